# expect: GF101 line 3
from fastapi import FastAPI
print "starting"
app = FastAPI()
