# expect: GF201 line 6
from fastapi import FastAPI


def create():
    app = FastAPI()
    return app
