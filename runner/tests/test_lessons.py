"""What FastAPI's documentation teaches, served by the real runner (issue #15).

The lessons corpus (validate/tests/corpus/lessons/accepted) is shared with the
checker's tests and the end-to-end test; here each lesson is served on a Unix
socket below a prefix, as the local runtime does, and its probes are sent the
way the gateway sends them (prefix stripped, X-Forwarded-For/-Proto set).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import write_files

LESSONS = Path(__file__).resolve().parents[2] / "validate" / "tests" / "corpus" / "lessons" / "accepted"
PREFIX = "/user/u1abc/app/a2xyz"
GATEWAY = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}
_PROBE = re.compile(r"^# probe: (?P<method>[A-Z]+) (?P<path>\S+)(?: (?P<body>\{.*\}))? -> (?P<status>\d{3})(?: (?P<text>.*))?$")


def probes(source: str) -> list[dict]:
    found = []
    for line in source.splitlines():
        if line.startswith("# probe:"):
            match = _PROBE.match(line)
            assert match, f"bad probe line: {line}"
            found.append(match.groupdict())
    return found


def lesson_names() -> list[str]:
    return sorted(p.stem for p in LESSONS.glob("*.py"))


def test_the_corpus_is_there():
    assert len(lesson_names()) >= 6


@pytest.mark.parametrize("lesson", lesson_names())
def test_lesson_is_served_and_answers_its_probes(start_runner, tmp_path, lesson):
    source = (LESSONS / f"{lesson}.py").read_text()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(source)
    app = start_runner(app_dir, uds=True, GOFAST_ROOT_PATH=PREFIX)
    lesson_probes = probes(source)
    assert lesson_probes, f"{lesson} has no probes"
    for probe in lesson_probes:
        body = json.loads(probe["body"]) if probe["body"] else None
        resp = app.request(probe["method"], probe["path"], body=body, headers=GATEWAY)
        seen = f"location: {resp.headers.get('location', '')}\n{resp.text}"
        where = f"{lesson}: {probe['method']} {probe['path']}"
        assert resp.status == int(probe["status"]), f"{where} answered {resp.status}:\n{seen}"
        text = (probe["text"] or "").replace("{prefix}", PREFIX)
        assert text in seen, f"{where}: {text!r} not in\n{seen}"


# --- the app's own root_path ---------------------------------------------------

ROOTED = """
    from fastapi import FastAPI, Request

    app = FastAPI(title="rooted", root_path="/api/v1/")

    @app.get("/where")
    def where(request: Request):
        return {"root_path": request.scope["root_path"], "url": str(request.url)}
"""


def test_own_root_path_composes_with_the_platforms_prefix(start_runner, tmp_path):
    app = start_runner(write_files(tmp_path / "app", {"main.py": ROOTED}), uds=True, GOFAST_ROOT_PATH=PREFIX)
    root = PREFIX + "/api/v1"
    # Both forms of the path reach the route, as under plain uvicorn.
    for path in ("/where", "/api/v1/where"):
        body = app.get(path, headers={**GATEWAY, "Host": "apps.example"}).json()
        assert body == {"root_path": root, "url": f"http://apps.example{root}/where"}, path
    # The docs point at an openapi.json the gateway can reach, and "Try it out" too.
    assert f"'{root}/openapi.json'" in app.get("/docs", headers=GATEWAY).text
    assert app.get("/api/v1/openapi.json", headers=GATEWAY).json()["servers"] == [{"url": root}]
    # A path that merely starts like the app's root is not below it.
    assert app.get("/api/v10/where", headers=GATEWAY).status == 404
    assert app.get("/health").json() == {"status": "ok"}
    assert f"at root path {root} (the app's own root_path /api/v1" in app.stdout.splitlines()[0]


def test_own_root_path_without_a_platform_prefix(start_runner, tmp_path):
    # The Docker image or a plain run: no GOFAST_ROOT_PATH, the app's root_path alone.
    app = start_runner(write_files(tmp_path / "app", {"main.py": ROOTED}))
    assert app.get("/where").json()["root_path"] == "/api/v1"
    assert app.get("/api/v1/where").json()["root_path"] == "/api/v1"
    assert "'/api/v1/openapi.json'" in app.get("/docs").text


# --- the platform's health check, outside the app's middleware -----------------

GUARDED = """
    from fastapi import FastAPI
    from fastapi.middleware.trustedhost import TrustedHostMiddleware

    app = FastAPI()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com"])

    @app.get("/")
    def root():
        return {"ok": True}
"""


def test_health_check_is_answered_before_middleware_that_refuses_the_host(start_runner, tmp_path):
    app = start_runner(write_files(tmp_path / "app", {"main.py": GUARDED}), uds=True, GOFAST_ROOT_PATH=PREFIX)
    # The platform's probe comes with whatever Host its client sets.
    probe = app.get("/health", headers={"Host": "746d70:0"})
    assert probe.status == 200
    assert probe.json() == {"status": "ok"}
    assert probe.headers["cache-control"] == "no-store"
    head = app.request("HEAD", "/health", headers={"Host": "746d70:0"})
    assert (head.status, head.body) == (200, b"")
    # Everything else is the app's, middleware included.
    assert app.get("/", headers={**GATEWAY, "Host": "746d70:0"}).status == 400
    assert app.get("/", headers={**GATEWAY, "Host": "example.com"}).json() == {"ok": True}
    # Only GET and HEAD are the platform's; the rest goes to the app.
    assert app.request("POST", "/health", headers={"Host": "746d70:0"}).status == 400


def test_health_check_is_answered_before_a_redirect_to_https(start_runner, tmp_path):
    source = """
        from fastapi import FastAPI
        from fastapi.middleware.httpsredirect import HTTPSRedirectMiddleware

        app = FastAPI()
        app.add_middleware(HTTPSRedirectMiddleware)
    """
    app = start_runner(write_files(tmp_path / "app", {"main.py": source}), uds=True, GOFAST_ROOT_PATH=PREFIX)
    assert app.get("/health").status == 200
    docs = app.get("/docs", headers={**GATEWAY, "Host": "apps.example"})
    assert docs.status == 307
    assert docs.headers["location"] == f"https://apps.example{PREFIX}/docs"


def test_health_waits_for_the_apps_own_start(start_runner, tmp_path):
    # The runner answers only once the app's startup (lifespan) has finished;
    # a startup that fails ends the process instead (exit 3).
    source = """
        from contextlib import asynccontextmanager
        from fastapi import FastAPI

        @asynccontextmanager
        async def lifespan(app):
            raise RuntimeError("database not reachable")
            yield

        app = FastAPI(lifespan=lifespan)
    """
    app = start_runner(write_files(tmp_path / "app", {"main.py": source}), uds=True, wait=False)
    assert app.proc.wait(timeout=20) == 3
    assert "database not reachable" in app.stderr


def test_own_root_path_applies_to_websockets_too(start_runner, tmp_path):
    import socket

    source = """
        from fastapi import FastAPI, WebSocket

        app = FastAPI(root_path="/api/v1")

        @app.websocket("/ws")
        async def ws(websocket: WebSocket):
            await websocket.accept()
            await websocket.close()
    """
    app = start_runner(write_files(tmp_path / "app", {"main.py": source}), uds=True, GOFAST_ROOT_PATH=PREFIX)
    for path in ("/ws", "/api/v1/ws"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(app.uds))
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "X-Forwarded-For: 203.0.113.7\r\n\r\n".encode()
            )
            assert sock.recv(1024).startswith(b"HTTP/1.1 101"), path
