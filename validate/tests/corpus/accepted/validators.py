from __future__ import annotations

import re
from typing import Generic, Literal, Optional, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

app = FastAPI()

T = TypeVar("T")
USERNAME = re.compile(r"^[a-z][a-z0-9_]{2,15}$")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class Address(BaseModel):
    street: str
    city: str
    country: Literal["NL", "BE", "DE", "FR"] = "NL"


class User(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    username: str
    age: int = Field(ge=0, le=150)
    password: str = Field(min_length=8, exclude=True)
    password_repeat: str = Field(exclude=True)
    address: Optional["Address"] = None
    friends: list["User"] = []

    @field_validator("username")
    @classmethod
    def check_username(cls, value: str) -> str:
        if not USERNAME.match(value):
            raise ValueError("username must be lowercase letters, digits or _")
        return value

    @model_validator(mode="after")
    def passwords_match(self) -> "User":
        if self.password != self.password_repeat:
            raise ValueError("passwords do not match")
        return self

    @computed_field
    @property
    def is_adult(self) -> bool:
        return self.age >= 18


USERS: list[User] = []


@app.post("/users")
def create_user(user: User) -> User:
    USERS.append(user)
    return user


@app.get("/users")
def list_users(page: int = 1, size: int = 10) -> Page[User]:
    start = (page - 1) * size
    return Page[User](items=USERS[start : start + size], total=len(USERS))
