# expect: GF408 line 17
# expect: GF408 line 18
# expect: GF408 line 19
# expect: GF408 line 22
# expect: GF408 line 23
# expect: GF408 line 24
# expect: GF408 line 26
# expect: GF408 line 27
# expect: GF408 line 29
# expect: GF408 line 32
import json as j
import logging
import fastapi.responses
from fastapi import FastAPI
from starlette import responses
app = FastAPI()
a = [logging][0].os
b = (fastapi.responses,)[0].FileResponse
c = {"r": responses}
def use(m):
    return m.os
use(logging)
alias = logging
d = logging if app else None
def give():
    return j
def lazy(m=logging):
    return m
e = (lambda: logging)()
def inside():
    import logging as lg
    return [lg]
ok = logging.getLogger("x"), getattr(logging, "INFO"), fastapi.responses.JSONResponse
