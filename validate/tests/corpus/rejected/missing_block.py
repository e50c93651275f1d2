# expect: GF104 line 8
from fastapi import FastAPI

app = FastAPI()

@app.get('/')
def read():
return 1
