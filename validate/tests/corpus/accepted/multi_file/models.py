from enum import Enum

from pydantic import BaseModel


class Language(str, Enum):
    english = "en"
    dutch = "nl"
    french = "fr"


class Greeting(BaseModel):
    name: str
    text: str
