# expect: GF306 line 6
# expect: GF306 line 7
# expect: GF306 line 8
# expect: GF306 line 9
from fastapi import FastAPI
from starlette.responses import *
from helpers import *
from . import *
from .helpers import *
app = FastAPI()
os.system("id")
