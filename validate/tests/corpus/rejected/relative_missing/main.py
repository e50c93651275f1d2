# expect: GF304 line 3
# expect: GF304 line 4
from . import helpers
from ..shared import tools
from . import models
from .models import ITEMS
from fastapi import FastAPI

app = FastAPI()
