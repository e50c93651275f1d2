# expect: GF203 line 4
from pydantic import BaseModel

app = FastAPI()
