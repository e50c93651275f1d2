import hmac
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials, OAuth2PasswordBearer, OAuth2PasswordRequestForm

app = FastAPI()
basic = HTTPBasic()
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

USERS = {"johndoe": "hunter22"}
TOKENS: dict[str, str] = {}


def check_basic(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> str:
    expected = USERS.get(credentials.username, "")
    ok = hmac.compare_digest(credentials.password.encode(), expected.encode())
    if not (expected and ok):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Basic"},
        )
    return credentials.username


@app.post("/token")
async def login(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]):
    if USERS.get(form_data.username) != form_data.password:
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    token = secrets.token_urlsafe(16)
    TOKENS[token] = form_data.username
    return {"access_token": token, "token_type": "bearer"}


@app.get("/users/me")
async def read_me(token: Annotated[str, Depends(oauth2_scheme)]):
    username = TOKENS.get(token)
    if username is None:
        raise HTTPException(status_code=401, detail="Invalid token")
    return {"username": username}


@app.get("/basic")
def basic_area(username: Annotated[str, Depends(check_basic)]):
    return {"hello": username}
