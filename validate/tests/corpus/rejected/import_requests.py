# expect: GF302 line 3
# expect: GF302 line 4
import requests
import httpx
from fastapi import FastAPI

app = FastAPI()
