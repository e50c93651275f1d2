"""Things that look dangerous to a regex but are fine.

Docstrings and comments may mention eval("1+1"), exec(code), open("file"),
__import__("os") or os.system: they are not calls.
"""

import re
from typing import Annotated

from fastapi import FastAPI, File, Query, UploadFile

app = FastAPI()

PATTERN = re.compile(r"eval\((.*)\)")  # re.compile is not the compile() builtin
EXAMPLES = ["open('x')", "exec(code)", "import os", "uses __subclasses__ to escape"]
TEMPLATE = "{0.name} has {0.count} items"


class Door:
    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.state = "closed"

    def open(self) -> str:  # a method called open
        self.state = "open"
        return self.state

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name!r})"


class Child(Door):
    def __init__(self, name: str):
        super().__init__(name)


def compile_report(input: str, vars: dict[str, str]) -> str:
    # parameters named like builtins are the caller's values, not builtins
    text = input.strip()
    for key, value in vars.items():
        text = text.replace("{" + key + "}", value)
    return text


@app.post("/upload")
async def upload(file: Annotated[UploadFile, File()]):  # File(...) is not open(...)
    return {"name": file.filename}


@app.get("/door/{name}")
def door(name: str):
    d = Child(name)
    return {"state": d.open(), "repr": repr(d), "text": TEMPLATE.format(d)}


@app.get("/fields")
def fields(name: Annotated[str, Query(pattern="^[a-z]+$")] = "name"):
    d = Door("front")
    # A dict, not getattr(d, name): a computed attribute name is refused (GF409).
    fields = {"name": d.name, "state": d.state, "count": d.count}
    return {"value": fields.get(name), "has": hasattr(d, "state"), "via": getattr(d, "name")}


@app.get("/report")
def report(template: str = "Hello {who}", who: str = "world"):
    lines = [compile_report(template, {"who": w}) for w in who.split(",")]
    scores = {w: len(w) for w in who.split(",") if w}
    best = max(scores, key=lambda k, s=scores: s[k]) if scores else None
    return {"lines": lines, "best": best, "matches": bool(PATTERN.search(template))}


if __name__ == "__main__":
    print("run me with the gofast platform")
