"""Helpers that run the real runner (a real uvicorn process) on a loopback port or a Unix socket."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

# GOFAST_TEST_RUNNER runs the tests against another copy (e.g. an older one, to see a test fail).
RUNNER = Path(os.environ.get("GOFAST_TEST_RUNNER") or Path(__file__).resolve().parents[1] / "gofast_runner.py")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PYTHON = sys.executable
START_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_files(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
    return directory


def runner_env(**overrides: str | None) -> dict[str, str]:
    """A scrubbed environment like the platform gives an app; None removes a key."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_to_exit(env: dict[str, str], cwd: Path | None = None, timeout: float = 20.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-I", str(RUNNER)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket, as the platform's gateway speaks to an app."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class RunningApp:
    def __init__(self, proc: subprocess.Popen, port: int | None, out_path: Path, err_path: Path, uds: Path | None = None):
        self.proc = proc
        self.port = port
        self.uds = uds
        self.base = f"http://127.0.0.1:{port}"
        self._out_path = out_path
        self._err_path = err_path

    @property
    def stdout(self) -> str:
        return self._out_path.read_text()

    @property
    def stderr(self) -> str:
        return self._err_path.read_text()

    def request(self, method: str, path: str, body=None, headers: dict[str, str] | None = None, timeout: float = 10.0):
        data = None
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        if self.uds is not None:
            conn = UnixHTTPConnection(str(self.uds), timeout)
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                return Response(resp.status, resp.headers, resp.read())
            finally:
                conn.close()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with _opener.open(req, timeout=timeout) as resp:
                return Response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, err.headers, err.read())

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def wait_ready(self, path: str = "/health") -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"runner exited with {self.proc.returncode} before serving\n"
                    f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
                )
            try:
                if self.request("GET", path, timeout=1).status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, FileNotFoundError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"runner not ready after {START_TIMEOUT}s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def start_runner(tmp_path):
    """start_runner(app_dir, **env) -> RunningApp, already answering GET /health."""
    started: list[RunningApp] = []
    socket_dirs: list[Path] = []

    def start(
        app_dir: Path | None = None, cwd: Path | None = None, wait: bool = True, uds: bool = False, **env: str
    ) -> RunningApp:
        n = len(started)
        socket_path = None
        if uds:
            # A short path: a Unix socket address holds at most 107 bytes.
            socket_dir = Path(tempfile.mkdtemp(prefix="gofast-test-"))
            socket_dirs.append(socket_dir)
            socket_path = socket_dir / "app.sock"
            overrides: dict[str, str | None] = {"GOFAST_UDS": str(socket_path)}
            port = None
        else:
            port = free_port()
            overrides = {"PORT": str(port)}
        if app_dir is not None:
            overrides["GOFAST_APP_DIR"] = str(app_dir)
        overrides.update(env)
        out_path = tmp_path / f"runner{n}.stdout"
        err_path = tmp_path / f"runner{n}.stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [PYTHON, "-I", str(RUNNER)],
                env=runner_env(**overrides),
                cwd=cwd or tmp_path,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        app = RunningApp(proc, port, out_path, err_path, socket_path)
        started.append(app)
        if wait:
            app.wait_ready()
        return app

    yield start
    for app in started:
        app.kill()
    for d in socket_dirs:
        shutil.rmtree(d, ignore_errors=True)
