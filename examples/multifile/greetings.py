"""Greetings in a few languages; imported by main.py."""

from enum import Enum


class Language(str, Enum):
    en = "en"
    fr = "fr"
    es = "es"
    de = "de"


GREETINGS: dict[Language, str] = {
    Language.en: "Hello",
    Language.fr: "Bonjour",
    Language.es: "Hola",
    Language.de: "Hallo",
}


def greet(name: str, language: Language = Language.en) -> str:
    return f"{GREETINGS[language]}, {name}!"
