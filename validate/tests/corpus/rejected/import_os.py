# expect: GF303 line 3
# expect: GF303 line 4
import os
import sys as system
from fastapi import FastAPI

app = FastAPI()

PORT = os.environ.get('PORT')
