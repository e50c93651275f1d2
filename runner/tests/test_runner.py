"""End-to-end tests: each one runs gofast_runner.py as a real uvicorn process."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from conftest import EXAMPLES, free_port, run_to_exit, runner_env, write_files

BASIC_APP = """
    from fastapi import FastAPI

    app = FastAPI(title="basic")

    @app.get("/hello")
    def hello(name: str = "world"):
        print(f"saying hello to {name}")
        return {"hello": name}

    @app.get("/items/{item_id}")
    def item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}
"""

ROOT = "/user/u1abc/app/a2xyz"


@pytest.fixture
def basic_app(tmp_path):
    return write_files(tmp_path / "app", {"main.py": BASIC_APP})


# --- serving -----------------------------------------------------------------


def test_health_is_added_and_user_routes_work(start_runner, basic_app):
    app = start_runner(basic_app)

    health = app.get("/health")
    assert health.status == 200
    assert health.json() == {"status": "ok"}

    hello = app.get("/hello?name=ada")
    assert hello.status == 200
    assert hello.json() == {"hello": "ada"}
    assert app.get("/items/7?q=x").json() == {"item_id": 7, "q": "x"}
    assert app.get("/nope").status == 404

    # The platform's health route stays out of the user's API docs.
    schema = app.get("/openapi.json").json()
    assert "/health" not in schema["paths"]
    assert "/hello" in schema["paths"]

    assert app.terminate() == 0
    out = app.stdout
    assert out.splitlines()[0] == f"gofast runner: serving app from main.py on 127.0.0.1:{app.port}"
    # Access log and the user's print() output both go to stdout.
    assert '"GET /hello?name=ada HTTP/1.1" 200' in out
    assert "saying hello to ada" in out


def test_app_defined_health_is_kept(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from fastapi import FastAPI

                app = FastAPI()

                @app.get("/health")
                def health():
                    return {"status": "mine", "db": "up"}
            """
        },
    )
    app = start_runner(app_dir, uds=True)
    # Users' requests come through the gateway, which always sets X-Forwarded-For:
    # they get the app's own /health.
    resp = app.get("/health", headers={"X-Forwarded-For": "203.0.113.7"})
    assert resp.status == 200
    assert resp.json() == {"status": "mine", "db": "up"}
    # The platform's own probe (no proxy in between) is answered by the runner, so
    # only the app's start decides whether it is healthy.
    assert app.get("/health").json() == {"status": "ok"}
    # A user-defined /health is part of the user's API, so it stays documented.
    assert "/health" in app.get("/openapi.json").json()["paths"]


def test_health_is_not_shadowed_by_a_catch_all_route(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from fastapi import FastAPI

                app = FastAPI()

                @app.get("/{anything:path}")
                def catch_all(anything: str):
                    return {"caught": anything}
            """
        },
    )
    app = start_runner(app_dir)
    assert app.get("/health").json() == {"status": "ok"}
    assert app.get("/some/where").json() == {"caught": "some/where"}


def test_plain_starlette_app_is_served(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from starlette.applications import Starlette
                from starlette.responses import PlainTextResponse
                from starlette.routing import Route

                def home(request):
                    return PlainTextResponse("starlette here")

                app = Starlette(routes=[Route("/", home)])
            """
        },
    )
    app = start_runner(app_dir)
    assert app.get("/health").json() == {"status": "ok"}
    assert app.get("/").text == "starlette here"


def test_root_path_behind_a_prefix_stripping_proxy(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from fastapi import FastAPI, Request

                app = FastAPI(title="rooted")

                @app.get("/items/{item_id}")
                def item(item_id: int, request: Request):
                    return {
                        "item_id": item_id,
                        "url": str(request.url),
                        "url_for": str(request.url_for("item", item_id=1)),
                    }

                @app.get("/list/")
                def listing():
                    return ["a"]
            """
        },
    )
    # A trailing slash in the setting is tolerated. On the platform's Unix socket,
    # as locally, the forwarded headers of the gateway are trusted.
    app = start_runner(app_dir, uds=True, GOFAST_ROOT_PATH=ROOT + "/")

    # The proxy strips the prefix, so requests arrive without it.
    docs = app.get("/docs")
    assert docs.status == 200
    assert f"'{ROOT}/openapi.json'" in docs.text

    openapi = app.get("/openapi.json")
    assert openapi.status == 200
    schema = openapi.json()
    assert schema["info"]["title"] == "rooted"
    assert "/items/{item_id}" in schema["paths"]  # paths stay relative to the app
    assert schema["servers"] == [{"url": ROOT}]  # so "Try it out" goes through the prefix

    assert app.get("/health").json() == {"status": "ok"}

    resp = app.get("/items/5", headers={"Host": "gofast.example", "X-Forwarded-Proto": "https"})
    assert resp.status == 200
    body = resp.json()
    assert body["item_id"] == 5
    # URLs the app builds carry the public prefix (and the scheme the trusted proxy reported).
    assert body["url"] == f"https://gofast.example{ROOT}/items/5"
    assert body["url_for"] == f"https://gofast.example{ROOT}/items/1"

    # Redirects (here: redirect_slashes) point back through the prefix.
    redirect = app.get("/list", headers={"Host": "gofast.example"})
    assert redirect.status == 307
    assert redirect.headers["location"] == f"http://gofast.example{ROOT}/list/"

    # A path that still carries the prefix is not the app's route: the proxy must strip it.
    assert app.get(f"{ROOT}/items/5").status == 404

    assert f"at root path {ROOT}" in app.stdout.splitlines()[0]


CLIENT_APP = """
    from fastapi import FastAPI, Request

    app = FastAPI()

    @app.get("/who")
    def who(request: Request):
        return {"client": request.client and request.client.host, "scheme": request.url.scheme}
"""


def test_on_a_unix_socket_the_gateways_forwarded_headers_are_trusted(start_runner, tmp_path):
    app_dir = write_files(tmp_path / "app", {"main.py": CLIENT_APP})
    # No PORT: the socket is all it serves on.
    app = start_runner(app_dir, uds=True, PORT=None)
    assert app.uds.is_socket()
    assert "on unix socket " in app.stdout.splitlines()[0]
    resp = app.get("/who", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert resp.json() == {"client": "203.0.113.7", "scheme": "https"}
    # Without the headers, there is no client address on a Unix socket.
    assert app.get("/who").json() == {"client": None, "scheme": "http"}


def test_on_loopback_tcp_forwarded_headers_are_not_trusted(start_runner, tmp_path):
    # Any local process can connect to a loopback port: it must not be able to
    # claim another client's address or scheme.
    app_dir = write_files(tmp_path / "app", {"main.py": CLIENT_APP})
    app = start_runner(app_dir)
    resp = app.get("/who", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert resp.json() == {"client": "127.0.0.1", "scheme": "http"}


def test_an_operator_may_trust_a_proxy_on_tcp(start_runner, tmp_path):
    app_dir = write_files(tmp_path / "app", {"main.py": CLIENT_APP})
    app = start_runner(app_dir, GOFAST_FORWARDED_ALLOW_IPS="127.0.0.1")
    resp = app.get("/who", headers={"X-Forwarded-For": "203.0.113.7"})
    assert resp.json()["client"] == "203.0.113.7"


@pytest.mark.parametrize(
    ("uds", "expected"),
    [("app.sock", "must be an absolute path"), ("/nonexistent/gofast/app.sock", "its directory does not exist")],
)
def test_invalid_socket_path_exits_2(basic_app, uds, expected):
    result = run_to_exit(runner_env(GOFAST_UDS=uds, GOFAST_APP_DIR=str(basic_app)))
    assert result.returncode == 2
    assert result.stderr.startswith("gofast runner: error: GOFAST_UDS")
    assert expected in result.stderr


def test_multi_file_app(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from fastapi import FastAPI

                import helpers
                from models.shapes import Square

                app = FastAPI()

                @app.get("/double/{n}")
                def double(n: int):
                    return {"result": helpers.double(n), "area": Square(side=n).area()}
            """,
            "helpers.py": """
                def double(n):
                    return n * 2
            """,
            "models/__init__.py": "",
            "models/shapes.py": """
                from pydantic import BaseModel

                class Square(BaseModel):
                    side: int

                    def area(self) -> int:
                        return self.side * self.side
            """,
        },
    )
    app = start_runner(app_dir)
    assert app.get("/double/4").json() == {"result": 8, "area": 16}
    assert app.terminate() == 0
    # The runner never writes bytecode caches into the app's (possibly read-only) directory.
    assert not list(app_dir.rglob("__pycache__"))


def test_gofast_entry_and_default_app_dir(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "server.py": """
                from fastapi import FastAPI

                app = FastAPI()

                @app.get("/")
                def root():
                    return {"entry": "server"}
            """,
            "main.py": "raise RuntimeError('main.py must not be imported')\n",
        },
    )
    # No GOFAST_APP_DIR: the current directory is the app dir.
    app = start_runner(cwd=app_dir, GOFAST_ENTRY="server")
    assert app.get("/").json() == {"entry": "server"}
    assert f"serving app from server.py on 127.0.0.1:{app.port}" in app.stdout


# --- stopping ----------------------------------------------------------------


def test_sigterm_stops_promptly_with_exit_0(start_runner, basic_app):
    app = start_runner(basic_app)
    assert app.get("/health").status == 200
    started = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 2.5
    assert "Finished server process" in app.stderr


def test_sigterm_with_a_blocked_request_exits_after_the_grace_period(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                import time
                from fastapi import FastAPI

                app = FastAPI()

                @app.get("/block")
                def block():
                    time.sleep(60)  # a sync handler stuck in a worker thread
                    return {}
            """
        },
    )
    app = start_runner(app_dir)
    results: list[int] = []
    client = threading.Thread(target=lambda: results.append(app.get("/block", timeout=30).status), daemon=True)
    client.start()
    time.sleep(0.3)
    started = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=15) == 0
    elapsed = time.monotonic() - started
    assert elapsed < 6, f"took {elapsed:.1f}s to stop"
    client.join(timeout=5)
    assert "timeout graceful shutdown exceeded" in app.stderr


def test_sigterm_during_a_slow_import_exits_0(start_runner, tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                import time
                print("loading", flush=True)
                time.sleep(60)
            """
        },
    )
    app = start_runner(app_dir, wait=False)
    deadline = time.monotonic() + 10
    while "loading" not in app.stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "loading" in app.stdout
    started = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 2


# --- errors ------------------------------------------------------------------


def test_import_error_prints_traceback_naming_the_users_line(tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from fastapi import FastAPI
                app = FastAPI()
                x = 1 / 0
            """
        },
    )
    result = run_to_exit(runner_env(PORT=str(free_port()), GOFAST_APP_DIR=str(app_dir)))
    assert result.returncode == 1
    err = result.stderr
    assert err.startswith("Traceback (most recent call last):")
    assert f'File "{app_dir / "main.py"}", line 3, in <module>' in err
    assert "x = 1 / 0" in err
    assert err.rstrip().endswith("ZeroDivisionError: division by zero")
    # Runner-internal frames are trimmed.
    assert "gofast_runner.py" not in err
    assert "importlib" not in err
    assert result.stdout == ""


def test_error_in_a_sibling_module_shows_both_files(tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from fastapi import FastAPI
                import helper
                app = FastAPI()
            """,
            "helper.py": """
                values = [1, 2]
                third = values[2]
            """,
        },
    )
    result = run_to_exit(runner_env(PORT=str(free_port()), GOFAST_APP_DIR=str(app_dir)))
    assert result.returncode == 1
    assert f'File "{app_dir / "main.py"}", line 2, in <module>' in result.stderr
    assert f'File "{app_dir / "helper.py"}", line 2, in <module>' in result.stderr
    assert "IndexError: list index out of range" in result.stderr


def test_syntax_error_names_file_and_line(tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {"main.py": "from fastapi import FastAPI\napp = FastAPI()\n\ndef broken(:\n    pass\n"},
    )
    result = run_to_exit(runner_env(PORT=str(free_port()), GOFAST_APP_DIR=str(app_dir)))
    assert result.returncode == 1
    assert f'File "{app_dir / "main.py"}", line 4' in result.stderr
    assert "SyntaxError" in result.stderr
    assert "gofast_runner.py" not in result.stderr


def test_missing_third_party_module_is_a_traceback(tmp_path):
    app_dir = write_files(tmp_path / "app", {"main.py": "import not_a_real_package_xyz\n"})
    result = run_to_exit(runner_env(PORT=str(free_port()), GOFAST_APP_DIR=str(app_dir)))
    assert result.returncode == 1
    assert f'File "{app_dir / "main.py"}", line 1' in result.stderr
    assert "ModuleNotFoundError: No module named 'not_a_real_package_xyz'" in result.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from fastapi import FastAPI\napplication = FastAPI()\n", "main.py has no module-level variable named 'app'"),
        ("app = 42\n", "'app' in main.py is an int, not a FastAPI app"),
    ],
    ids=["missing-app", "app-not-an-app"],
)
def test_bad_app_object_is_a_one_line_error(tmp_path, source, expected):
    app_dir = write_files(tmp_path / "app", {"main.py": source})
    result = run_to_exit(runner_env(PORT=str(free_port()), GOFAST_APP_DIR=str(app_dir)))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gofast runner: error: ")
    assert expected in lines[0]
    assert "app = FastAPI()" in lines[0]


def test_missing_entry_file_is_a_clear_error(tmp_path):
    app_dir = tmp_path / "empty"
    app_dir.mkdir()
    result = run_to_exit(runner_env(PORT=str(free_port()), GOFAST_APP_DIR=str(app_dir)))
    assert result.returncode == 1
    assert result.stderr.strip() == f"gofast runner: error: cannot find main.py in {app_dir}; the app's entry file must be main.py"


def test_app_startup_failure_exits_non_zero(tmp_path):
    app_dir = write_files(
        tmp_path / "app",
        {
            "main.py": """
                from contextlib import asynccontextmanager
                from fastapi import FastAPI

                @asynccontextmanager
                async def lifespan(app):
                    raise RuntimeError("database unreachable")
                    yield

                app = FastAPI(lifespan=lifespan)
            """
        },
    )
    result = run_to_exit(runner_env(PORT=str(free_port()), GOFAST_APP_DIR=str(app_dir)))
    assert result.returncode == 3
    assert f'File "{app_dir / "main.py"}", line 6, in lifespan' in result.stderr
    assert "RuntimeError: database unreachable" in result.stderr


@pytest.mark.parametrize("port", [None, "", "abc", "0", "70000", "-1"])
def test_missing_or_invalid_port_exits_2(basic_app, port):
    result = run_to_exit(runner_env(PORT=port, GOFAST_APP_DIR=str(basic_app)))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gofast runner: error: PORT")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GOFAST_ROOT_PATH": "user/u1/app/a1"}, "GOFAST_ROOT_PATH"),
        ({"GOFAST_ENTRY": "my-app"}, "GOFAST_ENTRY"),
        ({"GOFAST_APP_DIR": "/nonexistent/gofast/app"}, "GOFAST_APP_DIR"),
    ],
)
def test_invalid_settings_exit_2(basic_app, env, expected):
    overrides = {"PORT": str(free_port()), "GOFAST_APP_DIR": str(basic_app), **env}
    result = run_to_exit(runner_env(**overrides))
    assert result.returncode == 2
    assert result.stderr.startswith(f"gofast runner: error: {expected}")


# --- the examples ------------------------------------------------------------


def test_example_hello(start_runner):
    app = start_runner(EXAMPLES / "hello", GOFAST_ROOT_PATH="/user/u1/app/hello")
    assert app.get("/").json() == {"message": "Hello from gofast!"}
    assert app.get("/items/5?q=somequery").json() == {"item_id": 5, "q": "somequery"}
    created = app.request("POST", "/items", body={"name": "Foo", "price": 35.4})
    assert created.status == 200
    assert created.json() == {"item_name": "Foo", "item_price": 35.4, "is_offer": None}
    assert app.request("POST", "/items", body={"name": "Foo"}).status == 422
    assert app.get("/health").status == 200
    assert "'/user/u1/app/hello/openapi.json'" in app.get("/docs").text
    assert app.get("/openapi.json").json()["info"]["title"] == "hello"


def test_example_todo(start_runner):
    app = start_runner(EXAMPLES / "todo")
    assert app.get("/todos").json() == []
    created = app.request("POST", "/todos", body={"title": "learn FastAPI"})
    assert created.status == 201
    todo = created.json()
    assert todo["title"] == "learn FastAPI" and todo["done"] is False
    todo_id = todo["id"]
    assert app.get(f"/todos/{todo_id}").json()["title"] == "learn FastAPI"
    updated = app.request("PATCH", f"/todos/{todo_id}", body={"done": True})
    assert updated.json()["done"] is True
    assert [t["id"] for t in app.get("/todos?done=true").json()] == [todo_id]
    assert app.get("/todos?done=false").json() == []
    assert app.request("POST", "/todos", body={"title": ""}).status == 422
    assert app.request("DELETE", f"/todos/{todo_id}").status == 204
    assert app.get(f"/todos/{todo_id}").status == 404


def test_example_multifile(start_runner):
    app = start_runner(EXAMPLES / "multifile")
    assert app.get("/").json() == {"languages": ["en", "fr", "es", "de"]}
    assert app.get("/greet/Ada?lang=fr").json() == {"greeting": "Bonjour, Ada!"}
    assert app.get("/greet/Ada?lang=xx").status == 422


def test_form_and_file_uploads_work(tmp_path):
    """FastAPI refuses Form/File routes without python-multipart: it is pinned."""
    (tmp_path / "main.py").write_text(
        "from fastapi import FastAPI, File, Form, UploadFile\n\n"
        "app = FastAPI()\n\n\n"
        "@app.post('/upload')\n"
        "async def upload(file: UploadFile = File(...), note: str = Form('')):\n"
        "    data = await file.read()\n"
        "    return {'name': file.filename, 'size': len(data), 'note': note}\n"
    )
    import subprocess, socket, sys, time, os, httpx
    from pathlib import Path

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    runner = Path(__file__).resolve().parent.parent / "gofast_runner.py"
    env = {"PORT": str(port), "GOFAST_APP_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    proc = subprocess.Popen([sys.executable, "-I", str(runner)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        r = httpx.post(f"http://127.0.0.1:{port}/upload",
                       files={"file": ("a.txt", b"hello")}, data={"note": "hi"})
        assert r.status_code == 200, r.text
        assert r.json() == {"name": "a.txt", "size": 5, "note": "hi"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
