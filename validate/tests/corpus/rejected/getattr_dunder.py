# expect: GF406 line 7
# expect: GF406 line 8
# expect: GF406 line 9
# expect: GF406 line 10
from operator import attrgetter
from fastapi import FastAPI
g = getattr(app, "__init__"), getattr(len, "__self__")
h = attrgetter("__init__.__globals__")
leak = "{0.__init__.__globals__}".format(app)
b = getattr(builtins, "open")
app = FastAPI()
