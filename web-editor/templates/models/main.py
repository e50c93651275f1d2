from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="models")


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    is_offer: bool = False


class Receipt(BaseModel):
    item: Item
    total: float


@app.get("/")
def root() -> dict[str, str]:
    return {"try": "POST /items from /docs"}


# The request body is checked against Item; a bad one gets a 422 that says why.
@app.post("/items")
def create_item(item: Item) -> Receipt:
    total = item.price * (0.9 if item.is_offer else 1.0)
    return Receipt(item=item, total=round(total, 2))
