#!/usr/bin/env python3
"""gofast benchmarks: deploy -> first 200, and requests per second through the
gateway vs. the same app called directly on its port.

Standard library only. `scripts/bench.sh` starts `gofast up`, signs up a user
and then runs

    python3 bench/gofast_bench.py all --server URL --config-dir DIR \
        --data-dir DIR --venv .venv --gofast target/release/gofast

Measurements (all traffic goes to 127.0.0.1):

deploy       One app is created with `gofast deploy`, then updated N times in
             each of three ways, alternating so that drift in load hits all:
             api:   a REST `PUT /api/apps/{app}` with the files as JSON, on
                    the platform origin (GET /api/openapi.json documents it;
                    it reaches the same service call as the CLI's gRPC
                    UpdateApp). The clock starts right before the request is
                    sent and stops at the first HTTP 200 through the gateway
                    whose body carries the new revision's marker; the gateway
                    URL is polled every --poll-ms on a kept-alive connection.
                    The server's deploy events (STARTING, HEALTH_CHECK, READY)
                    are read back with `GET /api/apps/{app}/status` and shown
                    relative to the same start.
             quiet: the same call without polling the app (the control for the
                    poller's own CPU cost): the time to the server's READY.
             cli:   the wall time of `gofast deploy main.py --name NAME`
                    (process start to exit; it waits for READY).
             Each update changes the code, so a new revision really starts.
rps          The same app (the last deployed code) served by the same runner
             script and venv: through the gateway URL, and by a second runner
             process that this script starts on its own loopback port with
             the same GOFAST_ROOT_PATH. Same load generator, same connections and
             duration, alternating gateway/direct rounds. The load generator
             is wrk (scripts/bench.sh installs it from Debian); only when wrk
             is not on PATH (or with --no-wrk) a much slower built-in asyncio
             client stands in, and the log and the table say so.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import datetime

# Stage names as the REST API writes them (`Stage` in controlplane/src/model.rs).
READY, FAILED = "READY", "FAILED"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- HTTP -----


class QuickAckSocket(socket.socket):
    """A socket that acknowledges what it receives at once (TCP_QUICKACK).

    The gateway's sockets do not set TCP_NODELAY and it writes a proxied
    answer's head and body separately, so against a client that delays its
    ACKs (Linux does, by default) every request after the first on a
    kept-alive connection stalls ~40 ms (Nagle). Quick ACKs keep this poller's
    resolution at a few ms. The load generator (wrk) does not do this, so the
    requests/s figures show what ordinary clients get.
    """

    def recv_into(self, *args, **kwargs):
        self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return super().recv_into(*args, **kwargs)

    def recv(self, *args, **kwargs):
        self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return super().recv(*args, **kwargs)


class Conn:
    """One kept-alive HTTP/1.1 connection (reconnects after an error)."""

    def __init__(self, base: str, timeout: float = 10.0):
        u = urllib.parse.urlsplit(base)
        assert u.hostname in ("127.0.0.1", "localhost"), "benchmarks only talk to 127.0.0.1"
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout
        self.c: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.c.connect()
                self.c.sock = QuickAckSocket(fileno=self.c.sock.detach())
                self.c.sock.settimeout(self.timeout)
                self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return r.status, r.headers, data
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.c is not None:
            self.c.close()
            self.c = None


class ApiError(Exception):
    pass


def unix_time(rfc3339: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as the REST API writes it
    (UTC, `Z`, up to nanoseconds; Python keeps microseconds)."""
    return datetime.fromisoformat(rfc3339).timestamp()


class Api:
    """The platform's REST API (`/api/...`, JSON; GET /api/openapi.json
    describes it), on one kept-alive connection to the platform origin."""

    # The operations this driver calls, checked against the server's
    # OpenAPI document before measuring.
    USES = {("put", "/api/apps/{app_id}"), ("get", "/api/apps/{app_id}/status")}

    def __init__(self, server: str, token: str):
        self.conn = Conn(server, timeout=30)
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"accept": "application/json", "authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        status, _, answer = self.conn.request(method, path, body=data, headers=headers)
        if not 200 <= status < 300:
            raise ApiError(f"{method} {path}: HTTP {status}: {answer[:300]!r}")
        return json.loads(answer) if answer else {}

    def check(self) -> None:
        """Fails early, saying which, if the server lacks an operation used here."""
        paths = self.call("GET", "/api/openapi.json").get("paths", {})
        missing = [f"{m.upper()} {p}" for m, p in sorted(self.USES) if m not in paths.get(p, {})]
        if missing:
            raise SystemExit(f"the server's /api/openapi.json has no {', '.join(missing)}")

    @staticmethod
    def app_path(app: str) -> str:
        return "/api/apps/" + urllib.parse.quote(app, safe="")

    def update_app(self, app: str, files: dict[str, str]) -> int:
        """PUT /api/apps/{app}: stores the files as a new revision; its number."""
        body = {"files": [{"name": n, "content": c} for n, c in files.items()]}
        return self.call("PUT", self.app_path(app), body)["revision"]

    def app_status(self, app: str) -> tuple[int, str, list[tuple[int, str, float]]]:
        """(revision, stage, [(revision, stage, unix time)]) of the latest deploy."""
        s = self.call("GET", self.app_path(app) + "/status")
        events = [(e["revision"], e["stage"], unix_time(e["time"])) for e in s["events"]]
        return s["revision"], s["status"], events


# ---------------------------------------------------------------- helpers --


def app_code(marker: str) -> str:
    return (
        "from fastapi import FastAPI\n\n"
        "app = FastAPI()\n\n\n"
        '@app.get("/")\n'
        "def root() -> dict[str, str]:\n"
        f'    return {{"message": "hello", "revision": "{marker}"}}\n'
    )


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[int(k)]


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p90": pct(values, 90),
        "min": min(values),
        "max": max(values),
    }


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


class Bench:
    def __init__(self, args):
        self.a = args
        self.server = args.server.rstrip("/")
        creds = json.load(open(os.path.join(args.config_dir, "credentials.json")))
        entry = creds["servers"].get(self.server) or creds["servers"].get(args.server)
        self.token = entry["access_token"]
        self.api = Api(self.server, self.token)
        self.api.check()
        self.work = tempfile.mkdtemp(prefix="gofast-bench-")
        self.app_dir = os.path.join(self.work, args.name)
        os.makedirs(self.app_dir)
        self.main_py = os.path.join(self.app_dir, "main.py")
        self.nonce = uuid.uuid4().hex[:8]
        self.url = ""
        self.code = ""
        self.direct: subprocess.Popen | None = None

    def cli(self, *argv: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, GOFAST_SERVER=self.server, GOFAST_CONFIG_DIR=self.a.config_dir, NO_COLOR="1")
        env.pop("GOFAST_TOKEN", None)
        return subprocess.run(
            [self.a.gofast, *argv], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )

    def write(self, marker: str) -> str:
        self.code = app_code(marker)
        with open(self.main_py, "w") as f:
            f.write(self.code)
        return self.code

    def create(self) -> None:
        self.write(f"setup-{self.nonce}")
        r = self.cli("deploy", self.main_py, "--name", self.a.name)
        if r.returncode != 0:
            raise SystemExit(f"first deploy failed ({r.returncode}):\n{r.stderr}")
        self.url = r.stdout.strip()
        u = urllib.parse.urlsplit(self.url)
        self.path = u.path
        self.gw = Conn(self.url)
        log(f"app {self.a.name} at {self.url}")

    def wait_ready(self, revision: int, interval: float = 0.02, timeout: float = 60) -> list[tuple[int, int, float]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rev, status, events = self.api.app_status(self.a.name)
            if rev == revision and status in (READY, FAILED):
                if status == FAILED:
                    raise SystemExit(f"revision {revision} failed: {events}")
                return [e for e in events if e[0] == revision]
            time.sleep(interval)
        raise SystemExit(f"revision {revision} not READY after {timeout}s")

    # ------------------------------------------------------------ deploys --

    def api_once(self, i: int) -> dict:
        """One PUT /api/apps/{app}; ms from sending it to the first new 200 via the gateway."""
        marker = f"api-{i}-{self.nonce}"
        code = self.write(marker)
        needle = marker.encode()
        poll = self.a.poll_ms / 1000
        self.gw.request("GET", self.path)  # the poller's connection is warm
        t0_wall = time.time()
        t0 = time.perf_counter()
        revision = self.api.update_app(self.a.name, {"main.py": code})
        t_resp = time.perf_counter()
        other = 0
        deadline = t0 + 60
        while True:
            try:
                status, _, body = self.gw.request("GET", self.path)
            except OSError:
                status, body = 0, b""
            if status == 200 and needle in body:
                t1 = time.perf_counter()
                break
            if status != 200:
                other += 1
            if time.perf_counter() > deadline:
                raise SystemExit(f"revision {revision} never answered through the gateway in 60 s")
            time.sleep(poll)
        events = self.wait_ready(revision)
        total = (t1 - t0) * 1000
        log(f"api deploy {i:2}/{self.a.runs}: rev {revision}, first new 200 after {total:7.1f} ms")
        return {
            "ms": total,
            "returned_ms": (t_resp - t0) * 1000,
            "non_200": other,
            "stages": {st: (t - t0_wall) * 1000 for _, st, t in events},
        }

    def cli_once(self, i: int) -> dict:
        """One `gofast deploy`; its wall time in ms."""
        marker = f"cli-{i}-{self.nonce}"
        self.write(marker)
        t0_wall = time.time()
        t0 = time.perf_counter()
        r = self.cli("deploy", self.main_py, "--name", self.a.name)
        wall = (time.perf_counter() - t0) * 1000
        if r.returncode != 0:
            raise SystemExit(f"gofast deploy failed ({r.returncode}):\n{r.stderr}")
        status, _, body = self.gw.request("GET", self.path)
        if status != 200 or marker.encode() not in body:
            raise SystemExit(f"after gofast deploy the gateway answered {status} {body[:200]!r}")
        rev, _, events = self.api.app_status(self.a.name)
        log(f"cli deploy {i:2}/{self.a.runs}: rev {rev}, wall {wall:7.1f} ms")
        return {
            "ms": wall,
            "stages": {st: (t - t0_wall) * 1000 for r_, st, t in events if r_ == rev},
        }

    def quiet_once(self, i: int) -> dict:
        """One PUT /api/apps/{app} without polling the app: the control for the
        poller's own cost. The server's event times say when the revision was
        READY; its status is asked only every 100 ms, which does not move them."""
        code = self.write(f"quiet-{i}-{self.nonce}")
        t0_wall = time.time()
        revision = self.api.update_app(self.a.name, {"main.py": code})
        events = self.wait_ready(revision, interval=0.1)
        stages = {st: (t - t0_wall) * 1000 for _, st, t in events}
        log(f"api deploy {i:2}/{self.a.runs} without polling: rev {revision}, READY after {stages.get('READY', 0):7.1f} ms")
        return {"stages": stages}

    def deploys(self) -> tuple[dict, dict]:
        """API and CLI deploys, alternating, so that drift in load hits both."""
        api, quiet, cli = [], [], []
        for i in range(1, self.a.runs + 1):
            api.append(self.api_once(i))
            time.sleep(self.a.settle)
            if self.a.control:
                quiet.append(self.quiet_once(i))
                time.sleep(self.a.settle)
            cli.append(self.cli_once(i))
            time.sleep(self.a.settle)

        def stages(samples: list[dict]) -> dict:
            names = {k for s in samples for k in s["stages"]}
            return {k: summary([s["stages"][k] for s in samples if k in s["stages"]]) for k in names}

        return (
            {
                "first_200_ms": summary([x["ms"] for x in api]),
                "update_app_returned_ms": summary([x["returned_ms"] for x in api]),
                "stage_ms": stages(api),
                "non_200_during_deploys": sum(x["non_200"] for x in api),
                "poll_ms": self.a.poll_ms,
                "samples_ms": [round(x["ms"], 1) for x in api],
                "without_polling_stage_ms": stages(quiet) if quiet else {},
            },
            {
                "wall_ms": summary([x["ms"] for x in cli]),
                "stage_ms": stages(cli),
                "samples_ms": [round(x["ms"], 1) for x in cli],
            },
        )

    # ---------------------------------------------------------------- rps --

    def start_direct(self) -> str:
        d = os.path.join(self.work, "direct")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "main.py"), "w") as f:
            f.write(self.code)
        runner = os.path.join(self.a.data_dir, "runner", "gofast_runner.py")
        python = os.path.join(self.a.venv, "bin", "python")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        root_path = self.path.rstrip("/")
        # The environment the local runtime gives an app (runtime/local/process.rs).
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PORT": str(port),
            "GOFAST_HOST": "127.0.0.1",
            "GOFAST_ROOT_PATH": root_path,
            "GOFAST_APP_DIR": d,
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

        def launch_like_the_platform() -> None:
            # Its own process group (not session), and killed if this script dies.
            os.setpgid(0, 0)
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

        self.direct_log = open(os.path.join(self.work, "direct.log"), "w")
        self.direct = subprocess.Popen(
            [python, "-I", runner],
            cwd=d,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.direct_log,
            stderr=subprocess.STDOUT,
            preexec_fn=launch_like_the_platform,
        )
        base = f"http://127.0.0.1:{port}"
        c = Conn(base, timeout=2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.direct.poll() is not None:
                raise SystemExit(f"direct runner exited {self.direct.returncode}: see {self.direct_log.name}")
            try:
                if c.request("GET", "/health")[0] == 200:
                    c.close()
                    return base + "/"
            except OSError:
                pass
            time.sleep(0.02)
        raise SystemExit("direct runner did not answer /health in 30s")

    def stop_direct(self) -> None:
        if self.direct is not None and self.direct.poll() is None:
            try:
                os.killpg(self.direct.pid, signal.SIGTERM)
                self.direct.wait(5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.direct.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.direct.wait()
        self.direct = None

    def rps(self) -> dict:
        direct = self.start_direct()
        try:
            gw_body = self.gw.request("GET", self.path)[2]
            c = Conn(direct)
            d_body = c.request("GET", "/")[2]
            c.close()
            if gw_body != d_body:
                raise SystemExit(f"gateway and direct answers differ: {gw_body!r} vs {d_body!r}")
            tool = "wrk" if shutil.which("wrk") and not self.a.no_wrk else "python-asyncio"
            if tool != "wrk":
                why = "--no-wrk" if self.a.no_wrk else "wrk is not on PATH (apt-get install -y wrk)"
                log(f"{why}: requests/s come from the built-in asyncio client, far slower than wrk")
            targets = {"gateway": self.url, "direct": direct}
            for name, url in targets.items():  # warm both paths (connections, caches)
                load(tool, url, self.a.connections, self.a.threads, 1.0, False)
            # Alternating rounds, so that a change in the machine's load hits both.
            plan = [("keep-alive", r) for r in range(1, self.a.rounds + 1)]
            plan += [("close", r) for r in range(1, self.a.close_rounds + 1)]
            rounds = []
            for mode, r in plan:
                for name, url in targets.items():
                    res = load(tool, url, self.a.connections, self.a.threads, self.a.duration, mode == "close")
                    res.update(target=name, mode=mode, round=r, load=loadavg())
                    rounds.append(res)
                    log(
                        f"{name:8} {mode:10} round {r}: {res['rps']:8.0f} req/s  p50 {res['p50_ms']:.2f} ms"
                        f"  p99 {res['p99_ms']:.2f} ms  errors {res['errors']}"
                    )
            agg = {}
            for mode in ("keep-alive", "close"):
                for name in targets:
                    rs = [x for x in rounds if x["target"] == name and x["mode"] == mode]
                    if rs:
                        agg.setdefault(mode, {})[name] = {
                            "rps": statistics.mean(x["rps"] for x in rs),
                            "p50_ms": statistics.mean(x["p50_ms"] for x in rs),
                            "p99_ms": statistics.mean(x["p99_ms"] for x in rs),
                            "errors": sum(x["errors"] for x in rs),
                        }
            return {
                "tool": tool,
                "connections": self.a.connections,
                "threads": self.a.threads,
                "duration_s": self.a.duration,
                "rounds": rounds,
                "mean": agg,
                "gateway_url": self.url,
                "direct_url": direct,
            }
        finally:
            self.stop_direct()

    def cleanup(self) -> None:
        self.stop_direct()
        shutil.rmtree(self.work, ignore_errors=True)


# ------------------------------------------------------------ load tools --

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsed wrk time {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def load(tool: str, url: str, connections: int, threads: int, duration: float, close: bool) -> dict:
    if tool == "wrk":
        return wrk(url, connections, threads, duration, close)
    return asyncio.run(pyload(url, connections, duration, close))


def wrk(url: str, connections: int, threads: int, duration: float, close: bool) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "5s"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "requests": total,
        "p50_ms": _ms(lat["50"]),
        "p90_ms": _ms(lat["90"]),
        "p99_ms": _ms(lat["99"]),
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


async def pyload(url: str, connections: int, duration: float, close: bool) -> dict:
    """A fallback closed-loop HTTP/1.1 client (much slower than wrk)."""
    u = urllib.parse.urlsplit(url)
    extra = "Connection: close\r\n" if close else ""
    req = f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\nUser-Agent: gofast-bench\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        writer = None
        try:
            while time.perf_counter() < end:
                t = time.perf_counter()
                if writer is None:
                    reader, writer = await asyncio.open_connection(u.hostname, u.port)
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                await reader.readexactly(int(m.group(1)) if m else 0)
                if close:
                    writer.close()
                    writer = None
                latencies.append((time.perf_counter() - t) * 1000)
                if status != 200:
                    errors += 1
        finally:
            if writer is not None:
                writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "p50_ms": pct(latencies, 50),
        "p90_ms": pct(latencies, 90),
        "p99_ms": pct(latencies, 99),
        "errors": errors,
    }


# ---------------------------------------------------------------- report --


def tool_label(tool: str) -> str:
    if tool == "wrk":
        return "wrk"
    return f"{tool} (NOT wrk: wrk was not used, so these figures are not comparable with wrk's)"


def report(results: dict) -> str:
    lines = []
    m = results.get("machine", {})
    lines.append(f"machine: {m.get('nproc')} cores, {m.get('cpu')}; load at start {m.get('load_start')}, at end {m.get('load_end')}")
    if "deploy_api" in results:
        d = results["deploy_api"]
        f = d["first_200_ms"]
        lines.append("")
        lines.append(f"Deploy -> first 200 from the new revision ({f['n']} deploys, ms)")
        lines.append(f"  {'measure':62} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}")
        row = lambda label, s: f"  {label:62} {s['median']:8.1f} {s['p90']:8.1f} {s['min']:8.1f} {s['max']:8.1f}"
        lines.append(row(f"API: PUT /api/apps/{{app}} sent -> first new 200 (poll {d['poll_ms']:g} ms)", f))
        lines.append(row("  of which: PUT response received", d["update_app_returned_ms"]))
        for stage in ("STARTING", "HEALTH_CHECK", "READY"):
            if stage in d["stage_ms"]:
                lines.append(row(f"  server event {stage} (server clock)", d["stage_ms"][stage]))
        lines.append(f"    non-200 answers seen while polling during these deploys: {d['non_200_during_deploys']}")
        q = d.get("without_polling_stage_ms", {})
        if "READY" in q:
            lines.append(row("API without polling (control): PUT sent -> server READY", q["READY"]))
        if "deploy_cli" in results:
            c = results["deploy_cli"]
            lines.append(row("CLI: wall time of `gofast deploy main.py` (waits for READY)", c["wall_ms"]))
            for stage in ("VALIDATING", "STARTING", "READY"):
                if stage in c["stage_ms"]:
                    lines.append(row(f"  server event {stage} (server clock)", c["stage_ms"][stage]))
    elif "deploy_cli" in results:
        s = results["deploy_cli"]["wall_ms"]
        lines.append(f"CLI deploy wall: median {s['median']:.1f} ms, p90 {s['p90']:.1f} ms")
    if "rps" in results:
        r = results["rps"]
        lines.append("")
        lines.append(
            f"Requests/s, same app and runner: {tool_label(r['tool'])}, {r['connections']} connections, "
            f"{r['threads']} thread(s), {r['duration_s']:g} s per round, GET /"
        )
        lines.append(
            f"  {'target':10} {'connection':10} {'round':>5} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} "
            f"{'p99 ms':>8} {'errors':>7}  load"
        )
        for x in r["rounds"]:
            lines.append(
                f"  {x['target']:10} {x['mode']:10} {x['round']:>5} {x['rps']:9.0f} {x['p50_ms']:8.2f} "
                f"{x['p90_ms']:8.2f} {x['p99_ms']:8.2f} {x['errors']:7}  {x['load']}"
            )
        for mode, agg in r["mean"].items():
            g, d = agg["gateway"], agg["direct"]
            lines.append(
                f"  mean, {mode}: gateway {g['rps']:.0f} req/s vs direct {d['rps']:.0f} req/s "
                f"({g['rps'] / d['rps'] * 100:.0f}% of direct); p50 {g['p50_ms']:.2f} vs {d['p50_ms']:.2f} ms, "
                f"p99 {g['p99_ms']:.2f} vs {d['p99_ms']:.2f} ms"
            )
    return "\n".join(lines)


def machine() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "load_start": loadavg()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["all", "deploy", "rps"])
    p.add_argument("--server", required=True)
    p.add_argument("--config-dir", required=True, help="GOFAST_CONFIG_DIR of a logged-in user")
    p.add_argument("--data-dir", required=True, help="gofast up's --data-dir (for the runner script)")
    p.add_argument("--venv", required=True, help="the venv gofast up runs apps with (GOFAST_VENV)")
    p.add_argument("--gofast", required=True, help="the gofast binary")
    p.add_argument("--name", default="bench")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--poll-ms", type=float, default=5.0, help="sleep between polls of the gateway")
    p.add_argument(
        "--no-control", dest="control", action="store_false", help="skip the API deploys without polling"
    )
    p.add_argument("--settle", type=float, default=0.3, help="seconds between deploys (old process stops)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=2, help="keep-alive rounds per target")
    p.add_argument(
        "--close-rounds", type=int, default=1, help="rounds per target with a new connection per request"
    )
    p.add_argument("--no-wrk", action="store_true", help="use the built-in asyncio client")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    for k in ("config_dir", "data_dir", "venv", "gofast"):
        setattr(a, k, os.path.abspath(getattr(a, k)))

    # A TERM (from scripts/bench.sh's timeout or trap) still runs the cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    b = Bench(a)
    results: dict = {"machine": machine()}
    try:
        b.create()
        if a.what in ("all", "deploy"):
            results["deploy_api"], results["deploy_cli"] = b.deploys()
        if a.what in ("all", "rps"):
            results["rps"] = b.rps()
    finally:
        b.cleanup()
    results["machine"]["load_end"] = loadavg()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
