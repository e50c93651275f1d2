# submit-twice
# expect: GF006 line 0
from fastapi import FastAPI

app = FastAPI()
