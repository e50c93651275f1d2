# expect: GF201 line 5
from fastapi import FastAPI

if __name__ == "__main__":
    app = FastAPI()
