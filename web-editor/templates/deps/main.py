from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Header

app = FastAPI(title="dependencies")


class Pagination:
    def __init__(self, skip: int = 0, limit: int = 10) -> None:
        self.skip = skip
        self.limit = limit


def require_key(x_api_key: Annotated[str | None, Header()] = None) -> str:
    if x_api_key != "secret":
        raise HTTPException(status_code=401, detail="send the header X-API-Key: secret")
    return x_api_key


NUMBERS = list(range(100))


@app.get("/")
def root() -> dict[str, str]:
    return {"try": "/numbers?skip=5&limit=3"}


# FastAPI calls Pagination for every request and passes the result in.
@app.get("/numbers")
def numbers(page: Annotated[Pagination, Depends()]) -> list[int]:
    return NUMBERS[page.skip : page.skip + page.limit]


@app.get("/private")
def private(key: Annotated[str, Depends(require_key)]) -> dict[str, str]:
    return {"message": "you sent the right key"}
