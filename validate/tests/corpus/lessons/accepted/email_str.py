# Lessons "Extra Models" and "Response Model": a user model with an EmailStr
# field. pydantic validates it with email-validator, which the runner installs
# (pydantic's [email] extra).
#
# probe: GET /health -> 200 "status":"ok"
# probe: GET /docs -> 200 {prefix}/openapi.json
# probe: GET /openapi.json -> 200 "format":"email"
# probe: POST /subscribers {"name": "Ada", "email": "ada@example.com"} -> 201 "email":"ada@example.com"
# probe: POST /subscribers {"name": "Bob", "email": "bob-at-example"} -> 422 value is not a valid email address
# probe: GET /subscribers -> 200 "name":"Ada"
from fastapi import FastAPI, status
from pydantic import BaseModel, EmailStr

app = FastAPI(title="Newsletter")


class Subscriber(BaseModel):
    name: str
    email: EmailStr


subscribers: list[Subscriber] = []


@app.post("/subscribers", status_code=status.HTTP_201_CREATED)
def subscribe(subscriber: Subscriber) -> Subscriber:
    subscribers.append(subscriber)
    return subscriber


@app.get("/subscribers")
def list_subscribers() -> list[Subscriber]:
    return subscribers
