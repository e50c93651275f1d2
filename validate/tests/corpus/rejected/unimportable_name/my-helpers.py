# expect: GF012 line 0
def helper():
    return 1
