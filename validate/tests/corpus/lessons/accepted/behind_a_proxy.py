# Lesson "Behind a Proxy": the app states the path prefix a proxy strips before
# it, with FastAPI(root_path=...). On gofast the app already lives below its own
# prefix, so the two compose: /docs points at {prefix}/api/v1/openapi.json, and
# the app's paths answer with or without /api/v1 (as under plain uvicorn).
#
# probe: GET /health -> 200 "status":"ok"
# probe: GET /docs -> 200 {prefix}/api/v1/openapi.json
# probe: GET /openapi.json -> 200 "servers":[{"url":"{prefix}/api/v1"}]
# probe: GET /api/v1/openapi.json -> 200 "title":"Bookshelf behind a proxy"
# probe: GET /shelf -> 200 "root_path":"{prefix}/api/v1"
# probe: GET /api/v1/shelf -> 200 "root_path":"{prefix}/api/v1"
from fastapi import FastAPI, Request

app = FastAPI(title="Bookshelf behind a proxy", root_path="/api/v1")


@app.get("/shelf")
def shelf(request: Request):
    return {"books": ["Dune", "Emma"], "root_path": request.scope.get("root_path")}
