"""What the rules on modules, attribute names, private attributes and types
must leave alone: the ways FastAPI's documentation writes types, aliases and
dependencies, parameters named like modules, imports inside functions, and
classes using their own private attributes."""

from __future__ import annotations

import json
import logging
import operator
import time
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Annotated, Any, Literal, NamedTuple, Optional, TypeVar, Union

from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, Field, TypeAdapter, conint

app = FastAPI()
logger = logging.getLogger(__name__)

UserId = int
Tags = list[str]
Number = int | float
MaybeNode = Optional["Node"]
PositiveInt = conint(gt=0)
T = TypeVar("T", bound="Node")
Pair = NamedTuple("Pair", [("left", int), ("right", int)])


class Color(str, Enum):
    red = "red"
    green = "green"

    @classmethod
    def _missing_(cls, value: object) -> Color:
        return cls.red


class Node(BaseModel):
    name: str = Field(min_length=1)
    children: list[Node] = []
    parent: MaybeNode = None
    weight: Number = 1
    tags: Tags = []
    owner: UserId | None = None
    color: Color = Color.red
    kind: Literal["leaf", "branch"] = "leaf"


class Counter:
    def __init__(self) -> None:
        self._count = 0

    def bump(self) -> int:
        self._count += 1
        return self._count

    @classmethod
    def fresh(cls) -> Counter:
        return cls()


def common_parameters(q: str | None = None, skip: int = 0, limit: int = 100) -> dict[str, Any]:
    return {"q": q, "skip": skip, "limit": limit}


CommonsDep = Annotated[dict, Depends(common_parameters)]
counter = Counter()
nodes = TypeAdapter(list[Node])
by_name: Callable[[Node], str] = operator.attrgetter("name")


@app.get("/items/")
async def read_items(commons: CommonsDep, size: Annotated[PositiveInt, Query()] = 1):
    return {"commons": commons, "size": size, "count": counter.bump()}


@app.get("/day/{date}")
def day(date: date, time: Union[str, None] = None):
    # Parameters named like modules are the caller's values.
    return {"date": date.isoformat(), "time": time, "pair": Pair(1, 2)._asdict()}


@app.post("/nodes")
def add_nodes(body: list[Node]) -> list[str]:
    return sorted(by_name(n) for n in body)


@app.get("/dump")
def dump() -> str:
    import base64

    started = time.monotonic()
    text = json.dumps({"elapsed": time.monotonic() - started})
    logger.info("dumped %s", getattr(logging, "INFO"))
    return base64.b64encode(text.encode()).decode()
