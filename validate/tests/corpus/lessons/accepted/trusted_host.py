# Lesson "Advanced Middleware": TrustedHostMiddleware answers 400 to a request
# whose Host header is not listed, before any route runs. gofast answers its own
# health check outside the app's middleware, so the app deploys, and visitors on
# another host get the middleware's 400, as the lesson says they should.
#
# probe: GET /health -> 200 "status":"ok"
# probe: GET /docs -> 400 Invalid host header
# probe: GET /openapi.json -> 400 Invalid host header
# probe: GET /pets/2 -> 400 Invalid host header
from fastapi import FastAPI
from fastapi.middleware.trustedhost import TrustedHostMiddleware

app = FastAPI(title="Pets on example.com only")
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.com"])

PETS = {1: "cat", 2: "dog"}


@app.get("/pets/{pet_id}")
def pet(pet_id: int):
    return {"pet": PETS.get(pet_id)}
