# expect: GF102 line 8
from fastapi import FastAPI

app = FastAPI()

@app.get('/')
def read(names: list[str]):
    return f"{'\n'.join(names)}"
