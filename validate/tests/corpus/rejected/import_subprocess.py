# expect: GF303 line 5
# expect: GF303 line 6
# expect: GF303 line 7
# expect: GF303 line 8
import subprocess
from pathlib import Path
from asyncio import subprocess as sp
import pickle, json
from fastapi import FastAPI

app = FastAPI()
