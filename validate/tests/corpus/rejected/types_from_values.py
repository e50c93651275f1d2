# expect: GF411 line 30
# expect: GF411 line 31
# expect: GF411 line 32
# expect: GF411 line 33
# expect: GF411 line 34
# expect: GF411 line 35
# expect: GF411 line 36
# expect: GF411 line 37
# expect: GF411 line 39
# expect: GF411 line 40
# expect: GF411 line 41
# expect: GF411 line 42
# expect: GF411 line 43
# expect: GF411 line 44
# expect: GF411 line 45
# expect: GF411 line 46
# expect: GF411 line 49
from typing import ForwardRef, List, NamedTuple, Optional, get_type_hints
from pydantic import BaseModel, TypeAdapter, create_model
from fastapi import FastAPI
app = FastAPI()
s = "__imp" + "ort__('os').system('id')"
Alias = s
fields = [("x", s)]
class Holder:
    attr = "int"
def factory():
    return "int"
class A(BaseModel):
    x: s
    y: List[s]
    z: Optional["s"]
    w: f"{s}"
    a: Alias
    h: Holder.attr
    r: factory()
def endpoint(q: s = None):
    return q
r1 = ForwardRef(s)
r2 = TypeAdapter(s)
M = create_model("M", x=(s, ...))
C = type("C", (BaseModel,), {})
D = create_model("D", **{"x": (s, ...)})
hints = get_type_hints(A, None, {"s": s})
P = NamedTuple("P", fields)
Q = NamedTuple("Q", [("x", s)])
def builder(t):
    class Inner(BaseModel):
        v: t
    return Inner
