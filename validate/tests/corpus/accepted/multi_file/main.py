from fastapi import FastAPI

import greetings
from models import Greeting, Language
from store import STORE as store

app = FastAPI(title="Greeter")


@app.get("/greet/{name}")
def greet(name: str, language: Language = Language.english) -> Greeting:
    greeting = Greeting(name=name, text=greetings.hello(name, language))
    store.append(greeting)
    return greeting


@app.get("/history")
def history() -> list[Greeting]:
    return list(store)
