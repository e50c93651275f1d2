# expect: GF402 line 8
# expect: GF402 line 9
# expect: GF402 line 10
# expect: GF402 line 11
# expect: GF303 line 12
import logging
from fastapi import FastAPI
from fastapi.responses import FileResponse
data = open("data.json").read()
logging.basicConfig(filename="app.log")
handler = logging.FileHandler("x.log")
from starlette.staticfiles import StaticFiles
app = FastAPI()
