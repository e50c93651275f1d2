"""`helm test`: deploys an app through the platform's REST API, waits until it is READY, gets its
answer through the apps' ingress, deletes it. Standard library only (it runs in the runner image).

GOFAST_TEST_URL: where the platform's API answers; GOFAST_TEST_HOST: its Host header ("" keeps the
URL's own). GOFAST_TEST_APPS_ADDRESS: HOST:PORT to send app requests to ("" connects to the app URL's
own host); the app URL's host is always the Host header. GOFAST_TEST_ROUTED_AT_READY=1 (the chart sets
it with traefik.routeProbeUrl): the first request after READY must get the app's answer.
GOFAST_TEST_WAKE=1 (tests.wake): then the app must fall asleep (apps.sleepAfter), and a request well
after that, when it has no pod and its route leads to the control plane, must wake it and get its answer.
"""

import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

API = os.environ["GOFAST_TEST_URL"].rstrip("/")
API_HOST = os.environ.get("GOFAST_TEST_HOST", "")
APPS_ADDRESS = os.environ.get("GOFAST_TEST_APPS_ADDRESS", "")
ROUTED_AT_READY = os.environ.get("GOFAST_TEST_ROUTED_AT_READY") == "1"
WAKE = os.environ.get("GOFAST_TEST_WAKE") == "1"
# After SLEEPING: the pod's 5 s drain, its stop, and Traefik's 2 s throttle, with room to spare.
ASLEEP_FOR_SURE = 12
MESSAGE = "deployed by helm test " + secrets.token_hex(4)
MAIN_PY = (
    "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
    '@app.get("/")\ndef root():\n    return {"message": "%s"}\n' % MESSAGE
)


def call(method, url, body=None, token=None, host="", timeout=10):
    headers = {"Content-Type": "application/json"}
    if host:
        headers["Host"] = host
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def api(method, path, body=None, token=None):
    return call(method, API + path, body, token, API_HOST)


def wake(app_id, token, target, host):
    deadline = time.monotonic() + 180
    while True:
        status, state = api("GET", f"/api/apps/{app_id}/status", token=token)
        if status == 200 and state["status"] == "SLEEPING":
            break
        if time.monotonic() > deadline:
            sys.exit(f"the app did not fall asleep within 180 s: {status} {state}")
        time.sleep(1)
    print("SLEEPING", flush=True)
    time.sleep(ASLEEP_FOR_SURE)
    started = time.monotonic()
    status, body = call("GET", target, host=host, timeout=90)
    if not (status == 200 and isinstance(body, dict) and body.get("message") == MESSAGE):
        sys.exit(f"the sleeping app did not wake to answer: {status} {body}")
    print(f"woke and answered in {time.monotonic() - started:.1f} s", flush=True)
    status, state = api("GET", f"/api/apps/{app_id}/status", token=token)
    if status != 200 or state["status"] != "READY":
        sys.exit(f"woken, but not READY: {status} {state}")


def main():
    suffix = secrets.token_hex(3)
    who = {"email": f"helm-test-{suffix}@example.com", "password": secrets.token_urlsafe(16)}
    status, reply = api("POST", "/api/auth/signup", who)
    if status != 201:
        sys.exit(f"signup failed: HTTP {status}: {reply}")
    status, reply = api("POST", "/api/auth/login", who)
    if status != 200:
        sys.exit(f"login failed: HTTP {status}: {reply}")
    token = reply["access_token"]
    files = [{"name": "main.py", "content": MAIN_PY}]
    status, app = api("POST", "/api/apps", {"name": f"helm-test-{suffix}", "files": files}, token)
    if status != 201:
        sys.exit(f"deploy failed: HTTP {status}: {app}")
    app_id, url = app["app_id"], app["url"]
    print(f"deploying {app_id} at {url}", flush=True)
    deadline = time.monotonic() + 180
    while True:
        status, state = api("GET", f"/api/apps/{app_id}/status", token=token)
        if status == 200 and state["status"] == "READY":
            break
        if status == 200 and state["status"] == "FAILED":
            sys.exit(f"the deploy FAILED: {state}")
        if time.monotonic() > deadline:
            sys.exit(f"not READY within 180 s: {status} {state}")
        time.sleep(1)
    print("READY", flush=True)
    parts = urllib.parse.urlsplit(url)
    target = f"{parts.scheme}://{APPS_ADDRESS or parts.netloc}{parts.path}"
    deadline = time.monotonic() + 30
    while True:
        status, body = call("GET", target, host=parts.netloc)
        if status == 200 and isinstance(body, dict) and body.get("message") == MESSAGE:
            break
        if ROUTED_AT_READY:
            sys.exit(f"READY, but the app did not answer through the ingress: {status} {body}")
        if time.monotonic() > deadline:
            sys.exit(f"the app did not answer through the ingress: {status} {body}")
        time.sleep(0.5)
    print(f"the app answered: {body}", flush=True)
    if WAKE:
        wake(app_id, token, target, parts.netloc)
    status, reply = api("DELETE", f"/api/apps/{app_id}", token=token)
    if status not in (200, 204):
        sys.exit(f"delete failed: HTTP {status}: {reply}")
    print(f"ok: deployed, served through the ingress,{' slept, woke,' if WAKE else ''} deleted", flush=True)


main()
