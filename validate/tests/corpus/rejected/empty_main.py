# expect: GF009 line 0


