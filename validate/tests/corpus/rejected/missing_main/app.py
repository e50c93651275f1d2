# expect: GF001 line 0 in main.py
from fastapi import FastAPI

app = FastAPI()
