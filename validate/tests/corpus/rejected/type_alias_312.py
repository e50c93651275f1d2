# expect: GF109 line 5
# expect: GF109 line 7
from fastapi import FastAPI

type ItemIds = list[int]

def first[T](items: list[T]) -> T:
    return items[0]

app = FastAPI()
