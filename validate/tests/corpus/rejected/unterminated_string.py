# expect: GF106 line 4
from fastapi import FastAPI

app = FastAPI(title="My app)
