# expect: GF101 line 5
from fastapi import FastAPI

app = FastAPI()
total = 1 +
