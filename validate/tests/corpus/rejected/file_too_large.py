# limits: max_file_bytes=300
# expect: GF003 line 0
from fastapi import FastAPI

app = FastAPI()


@app.get('/r0')
def route_0():
    return 0

@app.get('/r1')
def route_1():
    return 1

@app.get('/r2')
def route_2():
    return 2

@app.get('/r3')
def route_3():
    return 3

@app.get('/r4')
def route_4():
    return 4

@app.get('/r5')
def route_5():
    return 5

@app.get('/r6')
def route_6():
    return 6

@app.get('/r7')
def route_7():
    return 7

