from typing import Annotated

from fastapi import Cookie, Depends, FastAPI, Header, HTTPException, Path, Query

app = FastAPI()

FAKE_USERS = {"alice": {"name": "Alice", "admin": True}, "bob": {"name": "Bob", "admin": False}}


class Pagination:
    def __init__(self, page: int = 1, size: Annotated[int, Query(le=100)] = 20):
        self.page = page
        self.size = size

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def get_token(x_token: Annotated[str, Header()]) -> str:
    if x_token != "secret-token":
        raise HTTPException(status_code=400, detail="X-Token header invalid")
    return x_token


async def get_db():
    db = {"connected": True}
    try:
        yield db
    finally:
        db["connected"] = False


def current_user(username: Annotated[str | None, Cookie()] = None) -> dict:
    user = FAKE_USERS.get(username or "")
    if user is None:
        raise HTTPException(status_code=401, detail="Not logged in")
    return user


CurrentUser = Annotated[dict, Depends(current_user)]


@app.get("/users/{username}")
def read_user(
    username: Annotated[str, Path(min_length=3, description="The user's login")],
    q: Annotated[str | None, Query(alias="item-query", max_length=50)] = None,
):
    return {"username": username, "q": q}


@app.get("/items", dependencies=[Depends(get_token)])
async def list_items(pages: Annotated[Pagination, Depends()], db: Annotated[dict, Depends(get_db)]):
    return {"offset": pages.offset, "size": pages.size, "db": db["connected"]}


@app.get("/me")
def me(user: CurrentUser):
    return user
