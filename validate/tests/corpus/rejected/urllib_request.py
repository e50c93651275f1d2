# expect: GF302 line 4
# expect: GF302 line 5
# expect: GF302 line 6
import urllib.request
from urllib import request
from http.client import HTTPConnection
from urllib.parse import urlencode
from urllib import parse
from fastapi import FastAPI

app = FastAPI()
