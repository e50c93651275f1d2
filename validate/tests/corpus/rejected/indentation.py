# expect: GF104 line 9
from fastapi import FastAPI

app = FastAPI()

@app.get('/')
def read():
    x = 1
  return x
