import logging
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

logger = logging.getLogger("app")
logging.basicConfig(level=logging.INFO)

app = FastAPI()
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"])
app.add_middleware(GZipMiddleware, minimum_size=1000)


class UnicornError(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class RequestCounter(BaseHTTPMiddleware):
    count = 0

    async def dispatch(self, request, call_next):
        RequestCounter.count += 1
        response = await call_next(request)
        response.headers["X-Request-Count"] = str(RequestCounter.count)
        return response


app.add_middleware(RequestCounter)


@app.middleware("http")
async def add_process_time_header(request: Request, call_next):
    start = time.perf_counter()
    response = await call_next(request)
    elapsed = time.perf_counter() - start
    response.headers["X-Process-Time"] = f"{elapsed:.4f}"
    logger.info("%s %s took %.4fs", request.method, request.url.path, elapsed)
    return response


@app.exception_handler(UnicornError)
async def unicorn_handler(request: Request, exc: UnicornError):
    return JSONResponse(status_code=418, content={"message": f"Oops! {exc.name} did something."})


@app.get("/unicorns/{name}")
async def read_unicorn(name: str):
    if name == "yolo":
        raise UnicornError(name=name)
    return {"unicorn_name": name, "class": type(name).__name__}
