# Lesson "Advanced Middleware": HTTPSRedirectMiddleware sends every plain-HTTP
# request to its https:// twin with a 307. The redirect keeps the app's prefix,
# and the platform's health check, answered outside the middleware, still passes.
#
# probe: GET /health -> 200 "status":"ok"
# probe: GET /docs -> 307 {prefix}/docs
# probe: GET /openapi.json -> 307 https://
# probe: GET /orders/7 -> 307 {prefix}/orders/7
from fastapi import FastAPI
from fastapi.middleware.httpsredirect import HTTPSRedirectMiddleware

app = FastAPI(title="Orders over HTTPS")
app.add_middleware(HTTPSRedirectMiddleware)


@app.get("/orders/{order_id}")
def order(order_id: int):
    return {"order_id": order_id, "status": "shipped"}
