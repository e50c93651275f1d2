# expect: GF407 line 10
# expect: GF407 line 11
# expect: GF407 line 12
# expect: GF407 line 13
# expect: GF407 line 14
# expect: GF407 line 15
import asyncio
import enum
import logging, random
logging.os.system("id")
from typing import sys
seed = random._os.urandom(4)
run = asyncio.create_subprocess_exec("ls")
b = enum.bltns.open
from pydantic import ImportString
from fastapi import FastAPI
app = FastAPI()
