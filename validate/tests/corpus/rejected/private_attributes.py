# expect: GF410 line 11
# expect: GF410 line 16
# expect: GF410 line 23
# expect: GF410 line 26
# expect: GF410 line 34
# expect: GF410 line 37
import typing
from fastapi import FastAPI, Request
app = FastAPI()
ref = typing.ForwardRef("int")
ref._evaluate(None, None, frozenset())
class Store:
    def __init__(self):
        self._items = {}
    def add(self, other):
        other._items = {}
        return self._items
    @classmethod
    def make(cls):
        return cls._default()
    @staticmethod
    def peek(store):
        return store._items
    def swap(self):
        self = Store()
        return self._items
    def nested(self):
        def inner():
            return self._items
        return inner
    @classmethod
    def _default(cls):
        return cls()
x = Store()._items
@app.get("/")
async def root(request: Request):
    return await request._receive()
