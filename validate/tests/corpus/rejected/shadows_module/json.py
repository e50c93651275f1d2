# expect: GF011 line 0
def dumps(x):
    return str(x)
