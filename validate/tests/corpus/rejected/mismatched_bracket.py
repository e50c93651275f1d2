# expect: GF103 line 8
from fastapi import FastAPI

app = FastAPI()

@app.get('/')
def read():
    return {"ok": [1, 2)}
