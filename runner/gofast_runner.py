"""gofast runner: load a user's FastAPI app and serve it with uvicorn.

This file is self-contained (the control plane embeds it verbatim) and is run as

    <venv>/bin/python -I gofast_runner.py

Configuration comes only from environment variables:

    GOFAST_UDS         absolute path of a Unix socket to serve on instead of TCP (the
                       local runtime: the app has no network of its own, and only the
                       platform's gateway can reach the socket)
    PORT               TCP port to listen on (1-65535); required without GOFAST_UDS
    GOFAST_HOST        address to bind (default 127.0.0.1; Kubernetes uses 0.0.0.0)
    GOFAST_ROOT_PATH   URL prefix the app is published under, stripped by the proxy
                       (default ""; e.g. /user/u1abc/app/a2xyz, no trailing slash)
    GOFAST_APP_DIR     directory holding the app's files (default: current directory)
    GOFAST_ENTRY       entry module name (default main, i.e. main.py)
    GOFAST_FORWARDED_ALLOW_IPS
                       optional, TCP only; addresses trusted for X-Forwarded-For/-Proto.
                       Default: none on a loopback bind (any local process could
                       connect and claim any client), * on another bind (in a cluster
                       the NetworkPolicy lets only the ingress proxy in). On a Unix
                       socket the headers are always trusted: only the gateway, which
                       replaces them, connects there.

Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 the user's code failed to load
(traceback or one-line error on stderr), 2 invalid runner configuration,
3 the server could not start (the app's startup/lifespan failed, or the port is taken).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import traceback
from typing import NoReturn

PREFIX = "gofast runner"
EXIT_USER_ERROR = 1
EXIT_CONFIG_ERROR = 2

_RUNNER_FILE = os.path.abspath(__file__)
_MODULE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _fail(code: int, message: str) -> NoReturn:
    print(f"{PREFIX}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def _exit_now(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# The uvicorn server, once created; see _on_stop_signal.
_server = None


def _on_stop_signal(signum, frame) -> None:
    """SIGTERM/SIGINT when uvicorn is not handling them: stop now with exit code 0.

    While serving, uvicorn installs its own handlers (graceful shutdown). Afterwards it
    restores this one and re-raises the signal it caught; with the default disposition
    that re-raise would kill the process (exit 143) or raise KeyboardInterrupt. Here the
    re-raise is ignored and the run finishes normally. A signal that comes earlier (say,
    while a slow entry module is being imported) ends the process at once.
    """
    if _server is not None and _server.should_exit:
        return
    _exit_now(0)


class Settings:
    def __init__(
        self,
        port: int | None,
        host: str,
        root_path: str,
        app_dir: str,
        entry: str,
        forwarded_allow_ips: str,
        uds: str | None = None,
    ):
        self.port = port
        self.host = host
        self.uds = uds
        self.root_path = root_path
        self.app_dir = app_dir
        self.entry = entry
        self.forwarded_allow_ips = forwarded_allow_ips


def read_settings(env: dict[str, str]) -> Settings:
    uds = env.get("GOFAST_UDS", "").strip() or None
    port = None
    if uds is not None:
        if not os.path.isabs(uds):
            _fail(EXIT_CONFIG_ERROR, f"GOFAST_UDS={uds!r} must be an absolute path (e.g. /run/gofast/app.sock)")
        if not os.path.isdir(os.path.dirname(uds)):
            _fail(EXIT_CONFIG_ERROR, f"GOFAST_UDS={uds!r}: its directory does not exist")
    else:
        raw_port = env.get("PORT", "").strip()
        if not raw_port:
            _fail(EXIT_CONFIG_ERROR, "PORT is not set; set PORT to the TCP port to listen on (e.g. PORT=8000)")
        if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
            _fail(EXIT_CONFIG_ERROR, f"PORT={raw_port!r} is not a valid port; use a number from 1 to 65535")
        port = int(raw_port)

    host = env.get("GOFAST_HOST", "").strip() or "127.0.0.1"

    root_path = env.get("GOFAST_ROOT_PATH", "").strip().rstrip("/")
    if root_path:
        if not root_path.startswith("/"):
            _fail(EXIT_CONFIG_ERROR, f"GOFAST_ROOT_PATH={root_path!r} must start with '/' (e.g. /user/u1/app/a1)")
        if not root_path.isascii() or any(c in root_path for c in "?#% \t\r\n"):
            _fail(EXIT_CONFIG_ERROR, f"GOFAST_ROOT_PATH={root_path!r} must be a plain ASCII URL path")

    app_dir = os.path.abspath(env.get("GOFAST_APP_DIR", "").strip() or os.getcwd())
    if not os.path.isdir(app_dir):
        _fail(EXIT_CONFIG_ERROR, f"GOFAST_APP_DIR={app_dir!r} is not a directory")

    entry = env.get("GOFAST_ENTRY", "").strip() or "main"
    if entry.endswith(".py"):
        entry = entry[: -len(".py")]
    if not _MODULE_NAME_RE.match(entry):
        _fail(EXIT_CONFIG_ERROR, f"GOFAST_ENTRY={entry!r} is not a Python module name (e.g. main)")

    forwarded = env.get("GOFAST_FORWARDED_ALLOW_IPS", "").strip()
    if uds is not None:
        # uvicorn sees no client address on a Unix socket, so only "*" trusts the
        # gateway there. With "*" it takes the first X-Forwarded-For entry: the
        # gateway replaces the header rather than appending to it.
        forwarded = "*"
    elif not forwarded:
        # On loopback any process of the machine may connect and claim any client:
        # trust no one. In a cluster the only peer allowed in (by NetworkPolicy) is
        # the ingress proxy, so trust it.
        loopback = host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
        forwarded = "" if loopback else "*"

    return Settings(port, host, root_path, app_dir, entry, forwarded, uds)


def _entry_display(entry: str) -> str:
    return entry.replace(".", "/") + ".py"


def _user_traceback(tb):
    """Drop the runner's and importlib's frames from the head of a traceback."""
    import importlib

    internal = {_RUNNER_FILE, os.path.abspath(importlib.__file__)}
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith("<frozen importlib") or os.path.abspath(filename) in internal:
            tb = tb.tb_next
            continue
        break
    return tb


def import_entry(settings: Settings):
    """chdir into the app dir, put it first on sys.path and import the entry module."""
    import importlib

    os.chdir(settings.app_dir)
    sys.path.insert(0, settings.app_dir)
    try:
        return importlib.import_module(settings.entry)
    except BaseException as exc:  # noqa: BLE001 - anything raised by user code at import time
        if isinstance(exc, KeyboardInterrupt):
            raise
        top = settings.entry.split(".")[0]
        if isinstance(exc, ModuleNotFoundError) and exc.name == top and not _entry_exists(settings):
            _fail(
                EXIT_USER_ERROR,
                f"cannot find {_entry_display(settings.entry)} in {settings.app_dir}; "
                f"the app's entry file must be {_entry_display(settings.entry)}",
            )
        if isinstance(exc, SystemExit):
            _fail(
                EXIT_USER_ERROR,
                f"{_entry_display(settings.entry)} called exit({exc.code!r}) while being imported; "
                "remove the exit() call (the platform starts the server for you)",
            )
        traceback.print_exception(type(exc), exc, _user_traceback(exc.__traceback__), file=sys.stderr)
        sys.stderr.flush()
        sys.exit(EXIT_USER_ERROR)


def _entry_exists(settings: Settings) -> bool:
    base = os.path.join(settings.app_dir, *settings.entry.split("."))
    return os.path.isfile(base + ".py") or os.path.isdir(base)


def find_app(module, settings: Settings):
    from starlette.applications import Starlette

    where = _entry_display(settings.entry)
    if not hasattr(module, "app"):
        _fail(
            EXIT_USER_ERROR,
            f"{where} has no module-level variable named 'app'; create one with: app = FastAPI()",
        )
    app = module.app
    if not isinstance(app, Starlette):
        kind = type(app).__qualname__
        if type(app).__module__ != "builtins":
            kind = f"{type(app).__module__}.{kind}"
        _fail(
            EXIT_USER_ERROR,
            f"'app' in {where} is {'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}, not a FastAPI app; "
            "create it with: app = FastAPI()",
        )
    return app


async def _health() -> dict[str, str]:
    return {"status": "ok"}


def _starlette_health(request):
    from starlette.responses import JSONResponse

    return JSONResponse({"status": "ok"})


def ensure_health(app) -> bool:
    """Add GET /health unless the app already answers GET /health. Returns True if added."""
    for route in app.router.routes:
        if getattr(route, "path", None) != "/health":
            continue
        methods = getattr(route, "methods", None)
        if methods is None or "GET" in methods:
            return False

    from fastapi import FastAPI

    before = list(app.router.routes)
    if isinstance(app, FastAPI):
        app.add_api_route("/health", _health, methods=["GET"], include_in_schema=False, name="gofast_health")
    else:
        app.add_route("/health", _starlette_health, methods=["GET"], include_in_schema=False, name="gofast_health")
    # Put it first so a catch-all route of the app cannot shadow the platform's health check.
    added = [r for r in app.router.routes if not any(r is b for b in before)]
    app.router.routes[:] = added + before
    return True


def serve(app, settings: Settings, entry_file: str) -> NoReturn:
    import uvicorn

    where_tcp = {} if settings.uds is not None else {"host": settings.host, "port": settings.port}
    config = uvicorn.Config(
        app,
        uds=settings.uds,
        **where_tcp,
        root_path=settings.root_path,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        access_log=True,  # uvicorn's default log config sends access lines to stdout
        log_level="info",
        use_colors=False,
        lifespan="on",
        http="h11",
        ws="wsproto",  # WebSockets (the app's @app.websocket routes), pure Python
        loop="asyncio",
        timeout_graceful_shutdown=3,
    )
    global _server
    server = _server = uvicorn.Server(config)

    where = f" at root path {settings.root_path}" if settings.root_path else ""
    on = f"unix socket {settings.uds}" if settings.uds is not None else f"{settings.host}:{settings.port}"
    print(f"{PREFIX}: serving app from {entry_file} on {on}{where}", flush=True)

    # uvicorn exits non-zero by itself when the port cannot be bound or the app's
    # startup (lifespan) fails; it logs the reason to stderr.
    code = 0
    try:
        server.run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    # A sync endpoint still blocked in a worker thread (e.g. time.sleep) would keep the
    # interpreter alive at exit, long after the graceful-shutdown timeout. The server is
    # stopped, so flush the logs and leave now.
    _exit_now(code)


def main() -> None:
    # Line-buffer stdout so the user's print() output reaches the platform's logs promptly
    # (-I ignores PYTHONUNBUFFERED), and never write __pycache__ into the app's directory
    # (-I ignores PYTHONDONTWRITEBYTECODE; the app dir may be read-only).
    sys.dont_write_bytecode = True
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_stop_signal)
    try:
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass

    settings = read_settings(dict(os.environ))
    # Import the server stack before the app dir goes on sys.path, so a user file that
    # happens to share a name with one of its modules cannot break the runner itself.
    import fastapi  # noqa: F401
    import starlette.applications  # noqa: F401
    import uvicorn  # noqa: F401

    module = import_entry(settings)
    app = find_app(module, settings)
    ensure_health(app)

    entry_file = getattr(module, "__file__", None)
    if entry_file:
        entry_file = os.path.relpath(entry_file, settings.app_dir)
    else:
        entry_file = _entry_display(settings.entry)
    serve(app, settings, entry_file)


if __name__ == "__main__":
    main()
