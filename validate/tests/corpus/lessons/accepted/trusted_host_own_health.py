# TrustedHostMiddleware that lets the local host in, and a /health of the app's
# own. Visitors get the app's /health; the platform's probe (which comes with no
# Host the app knows) is answered by gofast, so the middleware cannot fail it.
#
# probe: GET /health -> 200 "status":"mine"
# probe: GET /docs -> 200 {prefix}/openapi.json
# probe: GET /openapi.json -> 200 "/health"
# probe: GET /visits -> 200 "visits":1
from fastapi import FastAPI
from fastapi.middleware.trustedhost import TrustedHostMiddleware

app = FastAPI(title="Counter with its own health")
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["localhost", "127.0.0.1"])

counter = {"visits": 0}


@app.get("/health")
def health():
    return {"status": "mine", "visits": counter["visits"]}


@app.get("/visits")
def visits():
    counter["visits"] += 1
    return counter
