"""A small in-memory CRUD API: path and query parameters, pydantic models."""

from typing import Optional

from fastapi import FastAPI, HTTPException, status
from pydantic import BaseModel, Field

app = FastAPI(title="Items", version="1.0.0")


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0)
    tags: list[str] = []
    description: Optional[str] = None


class Item(ItemIn):
    id: int


items: dict[int, Item] = {}
next_id = 1


@app.get("/items", response_model=list[Item])
def list_items(skip: int = 0, limit: int = 10, tag: str | None = None):
    found = [item for item in items.values() if tag is None or tag in item.tags]
    return found[skip : skip + limit]


@app.get("/items/{item_id}")
def get_item(item_id: int) -> Item:
    if item_id not in items:
        raise HTTPException(status_code=404, detail=f"Item {item_id} not found")
    return items[item_id]


@app.post("/items", status_code=status.HTTP_201_CREATED)
def create_item(item: ItemIn) -> Item:
    global next_id
    created = Item(id=next_id, **item.model_dump())
    items[next_id] = created
    next_id += 1
    return created


@app.put("/items/{item_id}")
def update_item(item_id: int, item: ItemIn) -> Item:
    if item_id not in items:
        raise HTTPException(status_code=404, detail="Item not found")
    # model_copy(update=...), not setattr in a loop: gofast refuses setattr
    # with a name computed at run time (GF409).
    stored = items[item_id].model_copy(update=item.model_dump(exclude_unset=True))
    items[item_id] = stored
    return stored


@app.delete("/items/{item_id}", status_code=204)
def delete_item(item_id: int) -> None:
    items.pop(item_id, None)
