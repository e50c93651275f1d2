#!/usr/bin/env python3
"""gofast hardening benchmarks (issue #10, "Proof"): what an anonymous or
hostile client costs the control plane, each figure beside its idle baseline
taken in the same run, against the same `gofast up` process.

Standard library only. `scripts/bench.sh hardening` starts `gofast up`, signs
up a user and then runs

    python3 bench/hardening_bench.py --server URL --config-dir DIR \
        --gofast target/release/gofast --pid PID_OF_GOFAST_UP

Measurements (all traffic goes to 127.0.0.1 / localhost). "Peak" is VmHWM
of /proc/PID/status of `gofast up`, reset to the current RSS through
/proc/PID/clear_refs before each phase, so every peak is that phase's own.

login        RSS and peak idle (2 s), then while --login-workers concurrent
             clients send wrong-password `POST /api/auth/login` (JSON
             {email, password}) for the signed-up account, each on its own
             kept-alive connection, for --login-seconds in two halves (RSS
             after each: flat or growing?); answers by status (401 vs 429,
             and whether each 429 carries Retry-After); RSS 1 s and 5 s after.
logflood     An app whose `GET /flood` prints --flood-mib MiB in 1 MiB writes
             (so the app stays under its own memory limit): once as one line
             (then a newline), once as 1 KiB lines. RSS and peak before and
             after each; the cut marker and what `gofast logs` keeps.
validate     `GET /healthz` on the platform and `GET /` of a deployed hello
             app through the gateway (apps origin), one kept-alive connection
             each, --probes sequential requests --probe-gap-ms apart: idle,
             then while --validate-workers concurrent gRPC-web
             `gofast.v1.AppService/ValidateCode` calls, each carrying
             --validate-files empty files (~0.8 MB), are sent back to back
             without a token, then the same with a valid token. Answers are
             counted by HTTP and gRPC status.
slow         --slow-clients connections that send half a request's headers
             and stall, and as many that send one whole request, read the
             answer and stay idle (kept alive). How many the server still
             holds (ESTABLISHED on its side, /proc/net/tcp; and, as a second
             witness, how many have not seen EOF at the client) right after
             opening, 1 s before and 1.5 s after --header-timeout (pass what
             `gofast up` was started with).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gofast_bench import Conn, loadavg, log, machine, pct  # noqa: E402

FLOOD_APP = r'''from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def root() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/flood")
def flood(mib: int = 128, lines: int = 0, tag: str = "") -> dict[str, int]:
    # `mib` MiB written 1 MiB at a time, so the app itself never holds more
    # than a chunk: one line (the newline at the end closes it), or lines
    # of 1 KiB.
    if lines:
        chunk = ("x" * 1023 + "\n") * 1024
    else:
        chunk = "x" * (1 << 20)
    for _ in range(mib):
        print(chunk, end="", flush=True)
    print("", flush=True)
    print("flood done " + tag, flush=True)
    return {"printed_mib": mib}
'''

HELLO_APP = '''from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def root() -> dict[str, str]:
    return {"message": "hello"}
'''

GRPC_NAMES = {
    "0": "OK",
    "3": "INVALID_ARGUMENT",
    "4": "DEADLINE_EXCEEDED",
    "8": "RESOURCE_EXHAUSTED",
    "13": "INTERNAL",
    "14": "UNAVAILABLE",
    "16": "UNAUTHENTICATED",
}


# ---------------------------------------------------------------- /proc ----


class Proc:
    """The control plane's memory, from /proc/PID/status.

    Read by hand: the driver is standard library only, and the peak (VmHWM)
    and its reset through clear_refs are not in psutil either."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[float] = []

    def status(self) -> dict[str, float]:
        """VmRSS and VmHWM in MiB."""
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(rest.split()[0]) / 1024
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process (all threads)."""
        with open(f"/proc/{self.pid}/stat") as f:
            # The fields after the command name, which is in parentheses.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> float:
        return self.status()["VmRSS"]

    def reset_peak(self) -> bool:
        """Sets VmHWM to the current RSS (Linux >= 4.0, "5" in clear_refs),
        so a phase's peak is its own and not an earlier phase's."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError as e:
            log(f"could not reset the peak RSS ({e}); VmHWM is since start")
            return False


class Sampler:
    """Samples RSS every `every` s in a thread (the highest sample is a
    cross-check of VmHWM, which the kernel keeps exactly)."""

    def __init__(self, proc: Proc, every: float = 0.1):
        self.proc, self.every = proc, every
        self.max = 0.0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.max = max(self.max, self.proc.rss())
            except OSError:
                return
            self.stop.wait(self.every)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.t.join()


def idle_memory(proc: Proc, seconds: float = 2.0) -> dict:
    """Peak reset, then `seconds` of nothing: the idle RSS and peak."""
    reset = proc.reset_peak()
    time.sleep(seconds)
    s = proc.status()
    return {"rss_mib": s["VmRSS"], "hwm_mib": s["VmHWM"], "peak_reset": reset}


# ---------------------------------------------------------------- helpers --


def lat_summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "max": max(values),
        "mean": statistics.mean(values),
    }


# ------------------------------------------------------- gRPC-web, minimal --
# The ValidateCode flood is an attack on the gRPC-web edge itself (a large
# message that tonic decodes before the handler runs), and REST has no such
# call: so this one request keeps a minimal protobuf encoder, and its answer a
# minimal decoder. Everything else here talks HTTP/JSON.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_bytes(field: int, value: bytes | str) -> bytes:
    """A length-delimited field (a string or an embedded message)."""
    value = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def pb_fields(buf: bytes) -> dict[int, object]:
    """The first value of each varint or length-delimited field of a message
    (all a ValidateCodeResponse's first diagnostic needs)."""
    out: dict[int, object] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while i < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value: object = varint()
        elif wire == 2:
            n = varint()
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.setdefault(field, value)
    return out


def grpc_web(conn: Conn, method: str, message: bytes, token: str | None) -> tuple[int, str, str, bytes]:
    """One gRPC-web call: (HTTP status, grpc-status, grpc-message, first message)."""
    headers = {
        "content-type": "application/grpc-web+proto",
        "accept": "application/grpc-web+proto",
        "x-grpc-web": "1",
    }
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = b"\x00" + len(message).to_bytes(4, "big") + message
    status, h, data = conn.request("POST", f"/gofast.v1.AppService/{method}", body=body, headers=headers)
    grpc_status, grpc_message = h.get("grpc-status"), h.get("grpc-message", "")
    payload = b""
    i = 0
    while i + 5 <= len(data):
        flag, n = data[i], int.from_bytes(data[i + 1 : i + 5], "big")
        chunk = data[i + 5 : i + 5 + n]
        i += 5 + n
        if flag & 0x80:
            for line in chunk.decode(errors="replace").split("\r\n"):
                k, _, v = line.partition(":")
                if k.strip().lower() == "grpc-status":
                    grpc_status = v.strip()
                elif k.strip().lower() == "grpc-message":
                    grpc_message = v.strip()
        elif not payload:
            payload = chunk
    return status, grpc_status or "?", urllib.parse.unquote(grpc_message), payload


def reason_429(body: bytes) -> str:
    """Which limit a 429 names (its JSON message), in a word."""
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        return "(no message)"
    for word, reason in (("address", "address"), ("account", "account"), ("busy", "busy")):
        if word in message:
            return reason
    return message[:60]


def many_empty_files(n: int) -> bytes:
    """A ValidateCodeRequest with `n` empty files (field 1: File{name, content})."""
    return b"".join(pb_bytes(1, pb_bytes(1, f"m{i}.py") + pb_bytes(2, "")) for i in range(n))


def server_held(port: int, client_ports: set[int], reads: int = 3) -> int:
    """How many of these client connections the server still holds open:
    its side of each is ESTABLISHED (01) until it closes the socket, then
    FIN_WAIT (the client here never closes, so its side stays CLOSE_WAIT).

    The kernel hands /proc/net/tcp out a page at a time and resumes by
    position, so entries that come and go meanwhile (TIME_WAIT churn) make
    one read skip some: the union of a few reads is counted."""
    held: set[int] = set()
    for _ in range(reads):
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = open(table).read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                local, remote, state = f[1], f[2], f[3]
                peer = int(remote.rsplit(":", 1)[1], 16)
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and peer in client_ports:
                    held.add(peer)
    return len(held)


def client_open(socks: list[socket.socket], replies: dict[int, bytes]) -> int:
    """How many of these sockets have not seen the server close them; what
    the server sent before closing is kept in `replies` (by socket fd)."""
    n = 0
    for s in socks:
        closed = False
        try:
            while True:
                chunk = s.recv(65536, socket.MSG_DONTWAIT)
                if not chunk:
                    closed = True
                    break
                replies[s.fileno()] = replies.get(s.fileno(), b"") + chunk
        except BlockingIOError:
            pass
        except OSError:
            closed = True
        n += not closed
    return n


# ---------------------------------------------------------------- bench ----


class Hardening:
    def __init__(self, a):
        self.a = a
        self.server = a.server.rstrip("/")
        u = urllib.parse.urlsplit(self.server)
        assert u.hostname in ("127.0.0.1", "localhost"), "benchmarks only talk to 127.0.0.1"
        self.host, self.port = u.hostname, u.port or 80
        creds = json.load(open(os.path.join(a.config_dir, "credentials.json")))
        entry = creds["servers"].get(self.server) or creds["servers"].get(a.server)
        self.token = entry["access_token"]
        self.proc = Proc(a.pid)
        self.work = os.path.join(a.config_dir, f"hardening-{uuid.uuid4().hex[:6]}")
        os.makedirs(self.work)
        self.urls: dict[str, str] = {}

    def cli(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = dict(os.environ, GOFAST_SERVER=self.server, GOFAST_CONFIG_DIR=self.a.config_dir, NO_COLOR="1")
        env.pop("GOFAST_TOKEN", None)
        return subprocess.run(
            [self.a.gofast, *argv], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )

    def deploy(self, name: str, code: str) -> str:
        d = os.path.join(self.work, name)
        os.makedirs(d)
        with open(os.path.join(d, "main.py"), "w") as f:
            f.write(code)
        r = self.cli("deploy", os.path.join(d, "main.py"), "--name", name)
        if r.returncode != 0:
            raise SystemExit(f"deploying {name} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        url = r.stdout.strip().splitlines()[-1].strip()
        log(f"app {name} at {url}")
        self.urls[name] = url
        return url

    # ------------------------------------------------------------ logins --

    def login(self) -> dict:
        return {
            "one_address": self.login_once(spread=False),
            "spread": self.login_once(spread=True),
        }

    def login_once(self, spread: bool) -> dict:
        """spread=False: every client from 127.0.0.1, wrong passwords for
        the signed-up account (the address and account limits answer).
        spread=True: client i from 127.0.0.(2+i), a new unknown email per
        request, so that neither limit stops the first attempts and the
        server really hashes (against its dummy hash): the bound on
        concurrent hashing is what is left to keep memory flat."""
        what = f"{self.a.login_workers} addresses, unknown emails" if spread else "one address, one account"
        idle = idle_memory(self.proc)
        log(f"login ({what}): idle RSS {idle['rss_mib']:.1f} MiB; flooding with {self.a.login_workers} clients")
        # Two halves: if the second adds nothing, memory is flat under load.
        counts: dict[str, int] = {}
        retry_after = errors = 0
        latencies: list[float] = []
        halves = []
        with Sampler(self.proc) as sampler:
            t0 = time.perf_counter()
            cpu0 = self.proc.cpu_seconds()
            for _ in range(2):
                c, ra, lat, err = asyncio.run(
                    self._login_flood(self.a.login_workers, self.a.login_seconds / 2, spread)
                )
                for k, v in c.items():
                    counts[k] = counts.get(k, 0) + v
                retry_after += ra
                errors += err
                latencies += lat
                halves.append(self.proc.status())
            elapsed = time.perf_counter() - t0
            cpu = self.proc.cpu_seconds() - cpu0
        during = halves[-1]
        time.sleep(1)
        after_1 = self.proc.rss()
        time.sleep(4)
        after_5 = self.proc.rss()
        total = sum(counts.values())
        res = {
            "what": what,
            "workers": self.a.login_workers,
            "seconds": elapsed,
            "cpu_seconds": cpu,
            "requests": total,
            "per_second": total / elapsed,
            "answers": dict(sorted(counts.items())),
            "429_with_retry_after": retry_after,
            "errors": errors,
            "latency_ms": lat_summary(latencies) if latencies else None,
            "idle": idle,
            "flood": {"rss_mib": during["VmRSS"], "hwm_mib": during["VmHWM"], "max_sample_mib": sampler.max},
            "first_half": {"rss_mib": halves[0]["VmRSS"], "hwm_mib": halves[0]["VmHWM"]},
            "after_1s_rss_mib": after_1,
            "after_5s_rss_mib": after_5,
        }
        log(
            f"login ({what}): {total} answers in {elapsed:.1f} s {res['answers']}; peak RSS {during['VmHWM']:.1f} MiB "
            f"(idle {idle['hwm_mib']:.1f}); RSS 5 s after {after_5:.1f} MiB"
        )
        return res

    async def _login_flood(self, workers: int, seconds: float, spread: bool):
        # Our own client, not wrk: each client must connect from its own
        # source address (127.0.0.(2+i)) and every 429 is tallied by the limit
        # it names and whether it carries Retry-After, which wrk cannot do.
        counts: dict[str, int] = {}
        latencies: list[float] = []
        retry_after = 0
        errors = 0
        end = time.perf_counter() + seconds
        wrong = "not-the-password-" + uuid.uuid4().hex

        def request() -> bytes:
            email = f"nobody-{uuid.uuid4().hex[:12]}@example.com" if spread else self.a.email
            body = json.dumps({"email": email, "password": wrong}).encode()
            return (
                f"POST /api/auth/login HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body

        async def worker(i: int) -> None:
            nonlocal retry_after, errors
            reader = writer = None
            source = (f"127.0.0.{2 + i}", 0) if spread else None
            while time.perf_counter() < end:
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(self.host, self.port, local_addr=source)
                    t = time.perf_counter()
                    writer.write(request())
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                    lines = head.decode("latin-1").split("\r\n")
                    status = int(lines[0].split(" ", 2)[1])
                    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                    body = await reader.readexactly(int(hdrs.get("content-length", "0")))
                    latencies.append((time.perf_counter() - t) * 1000)
                    key = str(status)
                    if status == 429:
                        retry_after += "retry-after" in hdrs
                        key += " " + reason_429(body)
                    counts[key] = counts.get(key, 0) + 1
                    if hdrs.get("connection", "").lower() == "close":
                        writer.close()
                        writer = None
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError):
                    errors += 1
                    if writer is not None:
                        writer.close()
                    writer = None
                    await asyncio.sleep(0.05)
            if writer is not None:
                writer.close()

        await asyncio.gather(*(worker(i) for i in range(workers)))
        return counts, retry_after, latencies, errors

    # ---------------------------------------------------------- log flood --

    def logflood(self) -> dict:
        return {
            "one_line": self.logflood_once("one line", 0),
            "lines": self.logflood_once("1 KiB lines", 1),
        }

    def logflood_once(self, what: str, lines: int) -> dict:
        url = self.urls["flood"]
        u = urllib.parse.urlsplit(url)
        tag = uuid.uuid4().hex[:8]
        path = f"{u.path}flood?mib={self.a.flood_mib}&lines={lines}&tag={tag}"
        idle = idle_memory(self.proc)
        log(f"logflood ({what}): idle RSS {idle['rss_mib']:.1f} MiB; GET {path}")
        c = Conn(url, timeout=120)
        with Sampler(self.proc) as sampler:
            t0 = time.perf_counter()
            status, _, body = c.request("GET", path)
            elapsed = time.perf_counter() - t0
            c.close()
            # The control plane reads the pipe behind the app: wait until
            # the last line is in the logs.
            marker = None
            tail: list[str] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                r = self.cli("logs", "flood", "--tail", "3")
                tail = r.stdout.splitlines()
                if any(f"flood done {tag}" in ln for ln in tail):
                    marker = next((ln for ln in tail if "line cut" in ln), None)
                    break
                time.sleep(0.2)
        after = self.proc.status()
        kept = self.cli("logs", "flood", "--tail", "1000000").stdout
        cut = marker[marker.rfind("…") :] if marker and "…" in marker else marker
        res = {
            "what": what,
            "mib": self.a.flood_mib,
            "http_status": status,
            "seconds": elapsed,
            "idle": idle,
            "after": {"rss_mib": after["VmRSS"], "hwm_mib": after["VmHWM"], "max_sample_mib": sampler.max},
            "cut_marker": cut,
            "cut_line_chars": len(marker) if marker else None,
            "logs_tail": [ln[-120:] for ln in tail],
            "logs_kept_lines": kept.count("\n"),
            "logs_kept_bytes": len(kept.encode()),
        }
        log(
            f"logflood ({what}): HTTP {status} after {elapsed:.1f} s; peak RSS {after['VmHWM']:.1f} MiB "
            f"(idle {idle['hwm_mib']:.1f}); marker: {cut!r}; logs keep {res['logs_kept_lines']} lines, "
            f"{res['logs_kept_bytes']} bytes"
        )
        return res

    # ----------------------------------------------------------- validate --

    def probes(self) -> dict:
        """/healthz and the hello app, in two threads, one kept-alive
        connection each, `probes` requests `probe_gap_ms` apart."""
        out: dict[str, list[float]] = {"healthz": [], "app": []}
        bad = {"healthz": 0, "app": 0}
        app = urllib.parse.urlsplit(self.urls["hello"])
        targets = {"healthz": (self.server, "/healthz"), "app": (self.urls["hello"], app.path)}

        def run(name: str) -> None:
            base, path = targets[name]
            c = Conn(base, timeout=60)
            c.request("GET", path)  # connect and warm up; not counted
            for _ in range(self.a.probes):
                t = time.perf_counter()
                try:
                    status = c.request("GET", path)[0]
                except OSError:
                    status = 0
                out[name].append((time.perf_counter() - t) * 1000)
                bad[name] += status != 200
                time.sleep(self.a.probe_gap_ms / 1000)
            c.close()

        threads = [threading.Thread(target=run, args=(n,)) for n in out]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {n: dict(lat_summary(v), non_200=bad[n]) for n, v in out.items()}

    def flood_validate(self, msg: bytes, token: str | None) -> dict:
        """`validate_workers` threads send ValidateCode back to back (one
        kept-alive connection each) while the probes run."""
        outcomes: dict[str, int] = {}
        call_ms: list[float] = []
        stop = threading.Event()
        lock = threading.Lock()
        said: list[str] = []

        def flood() -> None:
            conn = Conn(self.server, timeout=120)
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    http, gs, gm, payload = grpc_web(conn, "ValidateCode", msg, token)
                    key = f"HTTP {http} grpc {GRPC_NAMES.get(gs, gs)}"
                    if gs == "0":
                        # ValidateCodeResponse { bool ok = 1; repeated Diagnostic diagnostics = 2; }
                        resp = pb_fields(payload)
                        key += f" ok={bool(resp.get(1, 0))}"
                        diag = pb_fields(resp.get(2, b""))
                        gm = f"{diag.get(1, b'').decode()}: {diag.get(6, b'').decode()}"
                except OSError as e:
                    key, gm = f"error {type(e).__name__}", str(e)
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    outcomes[key] = outcomes.get(key, 0) + 1
                    call_ms.append(ms)
                    if gm and not said:
                        said.append(gm[:200])
            conn.close()

        workers = [threading.Thread(target=flood, daemon=True) for _ in range(self.a.validate_workers)]
        with Sampler(self.proc) as sampler:
            for w in workers:
                w.start()
            time.sleep(1.0)  # the flood is under way before the first probe
            cpu0, t0 = self.proc.cpu_seconds(), time.perf_counter()
            probes = self.probes()
            probes["cpu_per_s"] = (self.proc.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
            stop.set()
            for w in workers:
                w.join(130)
        mem = self.proc.status()
        who = "with a token" if token else "anonymous"
        log(
            f"validate: flood {who}: {outcomes}; /healthz p50 {probes['healthz']['p50']:.2f} ms, "
            f"p99 {probes['healthz']['p99']:.2f}, max {probes['healthz']['max']:.2f}; "
            f"app p50 {probes['app']['p50']:.2f}, max {probes['app']['max']:.2f}"
        )
        return {
            "outcomes": outcomes,
            "first_answer": said[0] if said else "",
            "call_ms": lat_summary(call_ms) if call_ms else None,
            "probes": probes,
            "memory": {"rss_mib": mem["VmRSS"], "hwm_mib": mem["VmHWM"], "max_sample_mib": sampler.max},
        }

    def validate(self) -> dict:
        msg = many_empty_files(self.a.validate_files)
        log(f"validate: request of {self.a.validate_files} empty files, {len(msg)} bytes")
        idle_mem = idle_memory(self.proc, 1.0)
        cpu0, t0 = self.proc.cpu_seconds(), time.perf_counter()
        idle = self.probes()
        idle["cpu_per_s"] = (self.proc.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
        log(
            f"validate: idle /healthz p50 {idle['healthz']['p50']:.2f} ms, max {idle['healthz']['max']:.2f}; "
            f"app p50 {idle['app']['p50']:.2f} ms"
        )
        anonymous = self.flood_validate(msg, None)
        self.proc.reset_peak()
        with_token = self.flood_validate(msg, self.token)
        return {
            "files": self.a.validate_files,
            "request_bytes": len(msg) + 5,
            "workers": self.a.validate_workers,
            "probe_gap_ms": self.a.probe_gap_ms,
            "idle": {"probes": idle, "memory": idle_mem},
            "anonymous": anonymous,
            "token": with_token,
        }

    # --------------------------------------------------------------- slow --

    def slow(self) -> dict:
        n, timeout = self.a.slow_clients, self.a.header_timeout
        half = f"GET /healthz HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUser-Agent: gofast-bench-slow\r\n".encode()
        full = f"GET /healthz HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        groups: dict[str, list[socket.socket]] = {"half_headers": [], "idle_keepalive": []}
        t0 = time.monotonic()
        for _ in range(n):
            s = socket.create_connection((self.host, self.port), timeout=5)
            s.sendall(half)
            # Blocking mode: with a timeout Python polls before every recv,
            # even with MSG_DONTWAIT, and the counts below would wait.
            s.settimeout(None)
            groups["half_headers"].append(s)
        for _ in range(n):
            s = socket.create_connection((self.host, self.port), timeout=5)
            s.sendall(full)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            head, _, rest = got.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            while len(rest) < length:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            s.settimeout(None)
            groups["idle_keepalive"].append(s)
        ports = {name: {s.getsockname()[1] for s in socks} for name, socks in groups.items()}
        replies: dict[int, bytes] = {}

        def count(label: str, at: float) -> dict:
            wait = t0 + at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            row = {"t_s": round(time.monotonic() - t0, 2), "label": label}
            for name, socks in groups.items():
                row[name] = {
                    "server_held": server_held(self.port, ports[name]),
                    "client_open": client_open(socks, replies),
                }
            log(
                f"slow: t={row['t_s']:5.2f} s ({label}): held by the server (open as the client sees it): "
                f"half-sent {row['half_headers']['server_held']} ({row['half_headers']['client_open']}) of {n}, "
                f"idle kept-alive {row['idle_keepalive']['server_held']} ({row['idle_keepalive']['client_open']}) of {n}"
            )
            return row

        rows = [
            count("after opening", 0.2),
            count("1 s before the timeout", timeout - 1.0),
            count("1.5 s after the timeout", timeout + 1.5),
        ]
        # Did a fresh client still get served meanwhile?
        c = Conn(self.server, timeout=5)
        fresh = c.request("GET", "/healthz")[0]
        c.close()
        got: dict[str, dict[str, int]] = {}
        for name, socks in groups.items():
            for s in socks:
                first_line = replies.get(s.fileno(), b"").split(b"\r\n", 1)[0].decode(errors="replace")
                tally = got.setdefault(name, {})
                tally[first_line or "(nothing)"] = tally.get(first_line or "(nothing)", 0) + 1
                s.close()
        return {
            "connections": n,
            "header_timeout_s": timeout,
            "rows": rows,
            "sent_before_close": got,
            "fresh_healthz_status": fresh,
        }

    def cleanup(self) -> None:
        for name in self.urls:
            self.cli("delete", name, "--yes", timeout=30)


# ---------------------------------------------------------------- report --


def report(r: dict) -> str:
    m = r.get("machine", {})
    out = [
        f"machine: {m.get('nproc')} cores, {m.get('cpu')}; load at start {m.get('load_start')}, at end {m.get('load_end')}"
    ]
    if "login" in r:
        out += ["", "1. Login flood: wrong-password POST /api/auth/login, each client on its own kept-alive connection"]
        for x in r["login"].values():
            i, f = x["idle"], x["flood"]
            lat = x["latency_ms"] or {"p50": 0, "p99": 0, "max": 0}
            out += [
                f"  {x['workers']} concurrent clients, {x['what']}: {x['seconds']:.1f} s, {x['requests']} answers "
                f"({x['per_second']:.0f}/s), errors {x['errors']}; control plane CPU {x['cpu_seconds']:.1f} s",
                f"    answers: {x['answers']}; 429 with Retry-After: {x['429_with_retry_after']}; "
                f"latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f}, max {lat['max']:.1f}",
                f"    {'control plane':30} {'idle':>9} {'half-time':>9} {'end':>9} {'+1 s':>9} {'+5 s':>9}",
                f"    {'VmRSS MiB':30} {i['rss_mib']:9.1f} {x['first_half']['rss_mib']:9.1f} {f['rss_mib']:9.1f} "
                f"{x['after_1s_rss_mib']:9.1f} {x['after_5s_rss_mib']:9.1f}",
                f"    {'VmHWM MiB (peak, reset first)':30} {i['hwm_mib']:9.1f} {x['first_half']['hwm_mib']:9.1f} "
                f"{f['hwm_mib']:9.1f}",
            ]
    if "logflood" in r:
        one, many = r["logflood"]["one_line"], r["logflood"]["lines"]
        out += [
            "",
            f"2. Log flood: the app prints {one['mib']} MiB in 1 MiB writes, on one line / in 1 KiB lines "
            f"(HTTP {one['http_status']} after {one['seconds']:.1f} s / {many['http_status']} after {many['seconds']:.1f} s)",
            f"  {'control plane':30} {'before':>8} {'one line':>9} {'before':>8} {'lines':>8}",
            f"  {'VmRSS MiB':30} {one['idle']['rss_mib']:8.1f} {one['after']['rss_mib']:9.1f} "
            f"{many['idle']['rss_mib']:8.1f} {many['after']['rss_mib']:8.1f}",
            f"  {'VmHWM MiB (peak, reset first)':30} {one['idle']['hwm_mib']:8.1f} {one['after']['hwm_mib']:9.1f} "
            f"{many['idle']['hwm_mib']:8.1f} {many['after']['hwm_mib']:8.1f}",
            f"  gofast logs, one line: a line of {one['cut_line_chars']} chars ending {one['cut_marker']!r}",
            f"  gofast logs, 1 KiB lines: {many['logs_kept_lines']} lines / {many['logs_kept_bytes']} bytes kept "
            "(the whole log, --tail 1000000)",
        ]
    if "validate" in r:
        x = r["validate"]
        out += [
            "",
            f"3. ValidateCode flood: {x['workers']} concurrent gRPC-web calls of {x['files']} empty files "
            f"({x['request_bytes'] / 1e6:.2f} MB each), back to back, anonymous then with a token",
        ]
        for who in ("anonymous", "token"):
            f = x[who]
            c = f["call_ms"]
            out.append(
                f"  {who:9}: {f['outcomes']}; one call p50 {c['p50']:.1f} ms, max {c['max']:.1f} ms; "
                f"first answer {f['first_answer']!r}"
            )
        n = x["idle"]["probes"]["healthz"]["n"]
        out.append(f"  latency ms ({n} sequential requests each, one kept-alive connection, {x['probe_gap_ms']:g} ms apart)")
        out.append(f"  {'target':22} {'while':16} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'non-200':>8}")
        rows = (("idle", x["idle"]), ("anonymous flood", x["anonymous"]), ("token flood", x["token"]))
        for target, label in (("healthz", "/healthz"), ("app", "hello app via gateway")):
            for when, f in rows:
                s = f["probes"][target]
                out.append(
                    f"  {label:22} {when:16} {s['p50']:8.2f} {s['p90']:8.2f} {s['p99']:8.2f} {s['max']:8.2f} "
                    f"{s['non_200']:8}"
                )
        out.append(
            "  control plane CPU (s per s, while probing): "
            + ", ".join(f"{when} {f['probes']['cpu_per_s']:.2f}" for when, f in rows)
        )
        out.append(
            f"  control plane VmHWM MiB: idle {x['idle']['memory']['hwm_mib']:.1f}, anonymous flood "
            f"{x['anonymous']['memory']['hwm_mib']:.1f}, token flood {x['token']['memory']['hwm_mib']:.1f} "
            "(peak reset before each)"
        )
    if "slow" in r:
        x = r["slow"]
        n = x["connections"]
        out += [
            "",
            f"4. Slow clients: {n} half-sent requests and {n} idle kept-alive connections, "
            f"--header-timeout {x['header_timeout_s']:g} s; held = ESTABLISHED on the server's side",
            f"  {'t (s)':>6}  {'when':26} {'half-sent held':>15} {'idle held':>10}  (open as the client sees them)",
        ]
        for row in x["rows"]:
            h, i = row["half_headers"], row["idle_keepalive"]
            out.append(
                f"  {row['t_s']:6.2f}  {row['label']:26} {h['server_held']:>12}/{n} {i['server_held']:>7}/{n}"
                f"  ({h['client_open']}, {i['client_open']})"
            )
        out.append(f"  sent before closing (first line): {x['sent_before_close']}")
        out.append(f"  a fresh GET /healthz meanwhile: HTTP {x['fresh_healthz_status']}")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True)
    p.add_argument("--config-dir", required=True, help="GOFAST_CONFIG_DIR of a logged-in user")
    p.add_argument("--gofast", required=True, help="the gofast binary")
    p.add_argument("--pid", type=int, required=True, help="the pid of `gofast up` (the control plane)")
    p.add_argument("--email", default="bench@example.com", help="the signed-up account (wrong logins target it)")
    p.add_argument("--only", action="append", choices=["login", "logflood", "validate", "slow"])
    p.add_argument("--login-workers", type=int, default=64)
    p.add_argument("--login-seconds", type=float, default=20)
    p.add_argument("--flood-mib", type=int, default=128)
    p.add_argument("--validate-workers", type=int, default=8)
    p.add_argument("--validate-files", type=int, default=55_000)
    p.add_argument("--probes", type=int, default=200)
    p.add_argument("--probe-gap-ms", type=float, default=20)
    p.add_argument("--slow-clients", type=int, default=30)
    p.add_argument("--header-timeout", type=float, default=10, help="what gofast up was started with")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    a.config_dir = os.path.abspath(a.config_dir)
    a.gofast = os.path.abspath(a.gofast)
    phases = a.only or ["login", "logflood", "validate", "slow"]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    h = Hardening(a)
    results: dict = {"machine": machine()}
    try:
        # Apps first, so the flood phases measure only the flood.
        if "logflood" in phases:
            h.deploy("flood", FLOOD_APP)
        if "validate" in phases:
            h.deploy("hello", HELLO_APP)
        for phase in phases:
            results[phase] = getattr(h, phase)()
    finally:
        h.cleanup()
    results["machine"]["load_end"] = loadavg()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
