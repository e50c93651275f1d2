"""The gofast quick-start app.

Deploy it with `gofast deploy main.py`, then open `<your app URL>/docs`.
"""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="hello")


class Item(BaseModel):
    name: str
    price: float
    is_offer: bool | None = None


@app.get("/")
def read_root() -> dict[str, str]:
    return {"message": "Hello from gofast!"}


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None) -> dict:
    return {"item_id": item_id, "q": q}


@app.post("/items")
def create_item(item: Item) -> dict:
    return {"item_name": item.name, "item_price": item.price, "is_offer": item.is_offer}
