# expect: GF103 line 6
from fastapi import FastAPI

app = FastAPI()

ITEMS = [
    {"id": 1},
    {"id": 2},

@app.get('/')
def read():
    return ITEMS
