# expect: GF102 line 8
from fastapi import FastAPI

app = FastAPI()

@app.get('/')
def read(d: dict):
    return f"value: {d["key"]}"
