# expect: GF411 line 9
# expect: GF411 line 10
import models
from models import Item
from pydantic import BaseModel
from fastapi import FastAPI
app = FastAPI()
class Order(BaseModel):
    item: Item
    other: models.Item
    fine: models.Price
