import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum

from fastapi import FastAPI

app = FastAPI()


class ModelName(str, Enum):
    alexnet = "alexnet"
    resnet = "resnet"
    lenet = "lenet"


class Shape(Enum):
    CIRCLE = "circle"
    SQUARE = "square"


@dataclass
class Order:
    customer: str
    amount: Decimal
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    due: date = field(default_factory=lambda: date.today() + timedelta(days=30))
    lines: list[str] = field(default_factory=list)


@app.get("/models/{model_name}")
async def get_model(model_name: ModelName):
    match model_name:
        case ModelName.alexnet:
            message = "Deep Learning FTW!"
        case ModelName.lenet:
            message = "LeCNN all the images"
        case _:
            message = "Have some residuals"
    return {"model_name": model_name, "message": message, "all": [m.value for m in ModelName]}


@app.get("/area/{shape}")
def area(shape: Shape, size: float = 1.0):
    match (shape, size):
        case (Shape.CIRCLE, r) if r > 0:
            return {"area": 3.14159 * r * r}
        case (Shape.SQUARE, s):
            return {"area": s * s}
        case {"unexpected": _}:
            return {}
    return {"area": 0}


@app.post("/orders")
def create_order(customer: str, amount: Decimal):
    order = Order(customer=customer, amount=amount)
    return asdict(order)


@app.get("/members")
def members():
    return {name: member.value for name, member in Shape.__members__.items()}
