# expect: GF411 line 8
# expect: GF401 line 8
from fastapi import FastAPI
from pydantic import BaseModel
app = FastAPI()
class Evil(BaseModel):
    name: str
    payload: "__import__('os').system('id') or int"
