# expect: GF007 line 3
from fastapi import FastAPI
NAME = 'café'
app = FastAPI()
