# expect: GF105 line 7
from fastapi import FastAPI

app = FastAPI()

@app.get('/')
def read()
    return 1
