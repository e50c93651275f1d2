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

The app is served inside a thin ASGI layer of the platform's (PlatformLayer): it
answers the platform's GET /health outside the app's middleware, and composes the
app's own root_path (FastAPI(root_path=...)) with GOFAST_ROOT_PATH.

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


HEALTH_PATH = "/health"
_HEALTH_BODY = b'{"status":"ok"}'


def app_answers_health(app) -> bool:
    """Whether the app routes GET /health itself (then users' requests get the app's)."""
    for route in app.router.routes:
        if getattr(route, "path", None) != HEALTH_PATH:
            continue
        methods = getattr(route, "methods", None)
        if methods is None or "GET" in methods:
            return True
    return False


def app_root_path(app) -> str:
    """The root_path the app sets for itself (FastAPI(root_path="/api/v1")), normalised.

    The "behind a proxy" lessons set it to say that a proxy strips that prefix before
    the app. On gofast the platform's prefix comes first, so the two are composed.
    """
    root = getattr(app, "root_path", "")
    if not isinstance(root, str):
        return ""
    root = root.strip().rstrip("/")
    if root and not root.startswith("/"):
        root = "/" + root
    return root


def _strip_prefix(path: str, prefix: str) -> str | None:
    """`path` below `prefix` (segment-wise), or None when it is not below it."""
    if not prefix:
        return path
    if path == prefix:
        return ""
    if path.startswith(prefix) and path[len(prefix)] == "/":
        return path[len(prefix) :]
    return None


def _forwarded(scope) -> bool:
    """Whether the request came through a proxy: the gateway and Traefik always set
    X-Forwarded-For; the platform's own probes (the local health check, the kubelet)
    never do, and nothing else can reach the app's socket or port."""
    return any(name == b"x-forwarded-for" for name, _ in scope.get("headers", ()))


class PlatformLayer:
    """The outermost ASGI layer, around the user's app and its middleware.

    - Composes the platform's prefix with the app's own root_path: the app sees
      root_path = PREFIX + APP_ROOT, and both PREFIX/items and PREFIX/APP_ROOT/items
      reach its /items (as under plain uvicorn, where both /items and /api/v1/items
      do), so /docs points at PREFIX/APP_ROOT/openapi.json, which works through the
      gateway.
    - Answers GET/HEAD /health here, before the user's middleware, so middleware
      that answers before the app (TrustedHostMiddleware's 400, HTTPSRedirect-
      Middleware's 307) cannot fail the platform's health check: once uvicorn
      serves, the app's startup (lifespan) has finished, and that alone decides.
      When the app defines GET /health itself, users' requests (which come through
      a proxy) still reach the app's; only the platform's own probe is answered here.
    """

    def __init__(self, app, prefix: str, app_root: str, app_has_health: bool):
        self.app = app
        self.prefix = prefix
        self.app_root = app_root
        self.root = prefix + app_root
        self.app_has_health = app_has_health

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # uvicorn built path = prefix + what the proxy sent.
        received = _strip_prefix(scope["path"], self.prefix)
        if received is None:
            received = scope["path"]
        route_path = received
        if self.app_root:
            below = _strip_prefix(received, self.app_root)
            scope = dict(scope)
            scope["root_path"] = self.root
            if below is None:
                scope["path"] = self.root + received
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    prefix = self.prefix.encode("ascii")
                    tail = raw[len(prefix) :] if raw.startswith(prefix) else raw
                    scope["raw_path"] = self.root.encode("utf-8") + tail
            else:
                route_path = below
        if (
            route_path == HEALTH_PATH
            and scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and (not self.app_has_health or not _forwarded(scope))
        ):
            await _answer_health(send, head=scope["method"] == "HEAD")
            return
        await self.app(scope, receive, send)


async def _answer_health(send, head: bool) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_HEALTH_BODY)).encode("ascii")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else _HEALTH_BODY})


def wrap_app(app, settings: Settings) -> PlatformLayer:
    """Put the platform's layer around the app, composing its root_path with ours."""
    app_root = app_root_path(app)
    if app_root and hasattr(app, "root_path"):
        # FastAPI writes its root_path into every scope; make that the composed one.
        app.root_path = settings.root_path + app_root
    return PlatformLayer(app, settings.root_path, app_root, app_answers_health(app))


def serve(app, settings: Settings, entry_file: str) -> NoReturn:
    import uvicorn

    layer = wrap_app(app, settings)
    where_tcp = {} if settings.uds is not None else {"host": settings.host, "port": settings.port}
    config = uvicorn.Config(
        layer,
        interface="asgi3",
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

    where = f" at root path {layer.root}" if layer.root else ""
    if layer.app_root:
        where += f" (the app's own root_path {layer.app_root} below the platform's prefix)"
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

    entry_file = getattr(module, "__file__", None)
    if entry_file:
        entry_file = os.path.relpath(entry_file, settings.app_dir)
    else:
        entry_file = _entry_display(settings.entry)
    serve(app, settings, entry_file)


if __name__ == "__main__":
    main()
