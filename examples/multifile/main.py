"""An app split over two files: main.py imports its sibling greetings.py.

Deploy both files: `gofast deploy main.py greetings.py`.
"""

from fastapi import FastAPI

from greetings import Language, greet

app = FastAPI(title="multifile")


@app.get("/")
def root() -> dict[str, list[str]]:
    return {"languages": [language.value for language in Language]}


@app.get("/greet/{name}")
def greet_name(name: str, lang: Language = Language.en) -> dict[str, str]:
    return {"greeting": greet(name, lang)}
