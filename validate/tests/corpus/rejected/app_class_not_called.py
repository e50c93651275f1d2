# expect: GF202 line 4
from fastapi import FastAPI

app = FastAPI
