# expect: GF202 line 9
from fastapi import FastAPI


def create_app() -> FastAPI:
    return FastAPI()


app = create_app()
