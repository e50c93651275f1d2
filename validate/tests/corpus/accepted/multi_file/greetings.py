from models import Language

TEMPLATES = {
    Language.english: "Hello, {name}!",
    Language.dutch: "Hallo, {name}!",
    Language.french: "Bonjour, {name} !",
}


def hello(name: str, language: Language) -> str:
    return TEMPLATES[language].format(name=name)
