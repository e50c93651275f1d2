# expect: GF405 line 8
# expect: GF405 line 8
# expect: GF405 line 9
# expect: GF405 line 10
# expect: GF405 line 13
# expect: GF405 line 13
# expect: GF405 line 15
classes = ().__class__.__base__.__subclasses__()
g = read.__globals__
b = __builtins__
def frames(gen):
    x = gen
    return x.gi_frame.f_back
def fields(model):
    return model.__dict__
from fastapi import FastAPI
app = FastAPI()
@app.get('/')
def read():
    return {"name": read.__name__, "cls": app.__class__.__name__}
