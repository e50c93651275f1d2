# expect: GF306 line 4
# expect: GF306 line 5
import logging
from pydantic import *
from fastapi.responses import *
LOG = logging.getLogger("helpers")
