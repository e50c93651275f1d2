# expect: GF107 line 4
from fastapi import FastAPI

app = FastAPI(title=“Shop”)
