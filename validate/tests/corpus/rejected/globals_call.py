# expect: GF404 line 6
# expect: GF404 line 7
from fastapi import FastAPI

app = FastAPI()
g = globals()
v = vars(app)
