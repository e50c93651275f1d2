# expect: GF409 line 20
# expect: GF409 line 21
# expect: GF409 line 22
# expect: GF409 line 23
# expect: GF409 line 24
# expect: GF409 line 25
# expect: GF409 line 26
# expect: GF409 line 27
# expect: GF409 line 28
# expect: GF409 line 29
import operator
from functools import partial
from operator import attrgetter
from fastapi import FastAPI
app = FastAPI()
class Box:
    pass
b = Box()
name = "x"
v1 = getattr(b, name)
setattr(b, "__annot" + "ations__", {})
delattr(b, name)
v2 = getattr(b, *["x"])
g = getattr
p = partial(setattr, b)
v3 = operator.attrgetter(name)(b)
v4 = operator.methodcaller(name)(b)
v5 = sorted([b], key=attrgetter)
v6 = attrgetter(f"{name}")
ok = getattr(b, "x", None), hasattr(b, name), operator.attrgetter("x", "y"), operator.methodcaller("strip", " ")
