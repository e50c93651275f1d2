# expect: GF201 line 4
from fastapi import FastAPI

api = FastAPI()

@api.get('/')
def read():
    return {}
