# expect: GF005 line 0
SECRET = 1
