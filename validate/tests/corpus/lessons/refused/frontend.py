# expect: GF303 line 10
# expect: GF402 line 17
# expect: GF402 line 18
# Lesson "Static Files" and FastAPI's app.frontend(): both serve a folder from
# disk. A gofast app has no folder to serve (only its .py files), so the check
# refuses both with the same reason, instead of letting the app crash at start
# ("directory 'dist' does not exist").
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

app = FastAPI()
router = APIRouter()

# The build of a frontend, and a part of the site under /ui.

app.frontend("/", directory="dist")
router.frontend("/ui", directory="ui", fallback="index.html")


@app.get("/hello", response_class=HTMLResponse)
def hello():
    return "<h1>Hello</h1>"
