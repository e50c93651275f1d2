import json

from fastapi import FastAPI

app = FastAPI()
