# expect: GF201 line 0
from fastapi import FastAPI


def hello():
    return 'hi'
