# expect: GF401 line 9
# expect: GF401 line 10
# expect: GF401 line 11
# expect: GF401 line 13
# expect: GF401 line 15
# expect: GF401 line 16
# expect: GF401 line 20
# expect: GF401 line 21
@app.get(eval("'/'"))
def read(x=exec("1")):
    f = lambda s: compile(s, "x", "eval")
    return {"msg": "eval(x) in a string is fine"}  # eval(x) in a comment too
values = [__import__(n) for n in ["json"]]
class Config:
    mode = eval("1")
    label = f"{eval('2')}"
match 3:
    case 3:
        pass
    case _ if eval("x"):
        exec("y")
from fastapi import FastAPI
app = FastAPI()
