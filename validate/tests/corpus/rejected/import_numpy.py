# expect: GF301 line 3
# expect: GF301 line 4
import numpy as np
from typing_extensions import Annotated
from fastapi import FastAPI

app = FastAPI()
