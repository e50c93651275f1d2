from collections import deque

from models import Greeting

STORE: deque[Greeting] = deque(maxlen=100)
