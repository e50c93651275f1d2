import calendar
import html
import itertools
import json
import math
import random
import statistics
import string
import textwrap
from collections import Counter, defaultdict, deque
from functools import lru_cache
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo
from datetime import datetime

from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, StreamingResponse

app = FastAPI()
recent: deque[str] = deque(maxlen=5)


@lru_cache(maxsize=128)
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


async def number_stream(count: int):
    for i in range(count):
        yield json.dumps({"i": i, "fib": fib(i)}) + "\n"


@app.get("/stream")
async def stream(count: int = 10):
    return StreamingResponse(number_stream(min(count, 50)), media_type="application/x-ndjson")


@app.get("/stats")
def stats(values: str = "1,2,3,4"):
    numbers = [float(v) for v in values.split(",") if v.strip()]
    return {
        "mean": statistics.mean(numbers),
        "stdev": statistics.pstdev(numbers),
        "sqrt_sum": math.sqrt(sum(numbers)),
        "pairs": list(itertools.combinations(numbers[:4], 2)),
    }


@app.get("/words", response_class=PlainTextResponse)
def words(text: str = "the quick brown fox jumps over the lazy dog the end"):
    counts = Counter(text.split())
    groups = defaultdict(list)
    for word in counts:
        groups[len(word)].append(word)
    return textwrap.fill(f"{counts.most_common(3)} {dict(groups)}", width=40)


@app.get("/page", response_class=HTMLResponse)
def page(name: str = "world"):
    recent.append(name)
    safe = html.escape(name)
    return f"<h1>Hello {safe}</h1><p>{calendar.month_name[datetime.now(ZoneInfo('Europe/Amsterdam')).month]}</p>"


@app.get("/go")
def go(q: str = "fastapi"):
    return RedirectResponse(url="/search?" + urlencode({"q": quote(q)}))


@app.get("/password")
def password(length: int = 12):
    alphabet = string.ascii_letters + string.digits
    return {"password": "".join(random.choice(alphabet) for _ in range(length))}


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket):
    await websocket.accept()
    while True:
        data = await websocket.receive_text()
        await websocket.send_text(f"Message text was: {data}")
