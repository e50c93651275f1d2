from fastapi import FastAPI

app = FastAPI(title="params")


@app.get("/")
def root() -> dict[str, str]:
    return {"try": "/items/42?q=hello"}


# {item_id} in the path is a path parameter; q, not in the path, is a query
# parameter. The type hints make FastAPI check and convert them.
@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None, limit: int = 10) -> dict:
    return {"item_id": item_id, "q": q, "limit": limit}
