# limits: max_files=2
# expect: GF002 line 0 app
import helpers
import models
from fastapi import FastAPI

app = FastAPI()
