# expect: GF403 line 6
# expect: GF403 line 7
from fastapi import FastAPI

app = FastAPI()
name = input('Your name? ')
breakpoint()
