"""Warm starts (issue #12): deploy -> first 200 and idle memory, fork vs exec, same run.

Started by `scripts/bench.sh warm`. It starts two `gofast up` of the same binary side by
side, one with `--start fork` and one with `--start exec`, signs a user up on each,
deploys one app on each, then alternates N updates between the two (so drift in the
machine's load hits both), each timed from sending PUT /api/apps/{app} to the first 200
with the new code through the gateway (as bench/gofast_bench.py's "api" figure). Then,
with both apps idle, it reads each app's unique memory (USS: Private_Clean +
Private_Dirty of /proc/PID/smaps_rollup), summed over every process of the app's start
(for exec, bwrap's two processes too), and the fork server's own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gofast_bench import Api, Conn, app_code, log, loadavg, summary  # noqa: E402
from procfs import descendants, uss_kib  # noqa: E402


class Platform:
    def __init__(self, gofast: str, venv: str, start: str, work: str):
        self.start = start
        self.gofast = gofast
        self.data = os.path.join(work, f"data-{start}")
        self.config = os.path.join(work, f"config-{start}")
        self.log_path = os.path.join(work, f"up-{start}.log")
        self.proc = subprocess.Popen(
            [gofast, "up", "--addr", "127.0.0.1:0", "--data-dir", self.data, "--start", start],
            env=dict(os.environ, GOFAST_VENV=venv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "w"),
        )
        self.url = ""
        deadline = time.monotonic() + 120
        while not self.url:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gofast up --start {start} did not start:\n{open(self.log_path).read()}")
            for line in open(self.log_path):
                if line.startswith("gofast is listening on "):
                    self.url = line.split()[4]
            time.sleep(0.05)
        said = [line.strip() for line in open(self.log_path) if line.startswith("Apps start")]
        log(f"--start {start}: {self.url}; {said[0] if said else '?'}")
        self.env = dict(os.environ, GOFAST_SERVER=self.url, GOFAST_CONFIG_DIR=self.config, NO_COLOR="1")
        self.env.pop("GOFAST_TOKEN", None)
        self.cli("signup", "--email", "bench@example.com", "--password-stdin", stdin="bench-password\n")
        creds = json.load(open(os.path.join(self.config, "credentials.json")))
        self.api = Api(self.url, creds["servers"][self.url]["access_token"])
        self.api.check()

    def cli(self, *argv: str, stdin: str = "") -> str:
        r = subprocess.run(
            [self.gofast, *argv], env=self.env, input=stdin, capture_output=True, text=True, timeout=120
        )
        if r.returncode != 0:
            raise SystemExit(f"gofast {' '.join(argv)} failed:\n{r.stderr}")
        return r.stdout.strip()

    def create(self, name: str, work: str) -> None:
        d = os.path.join(work, f"{name}-{self.start}")
        os.makedirs(d)
        self.main_py = os.path.join(d, "main.py")
        with open(self.main_py, "w") as f:
            f.write(app_code("setup"))
        self.name = name
        self.app_url = self.cli("deploy", self.main_py, "--name", name)
        self.path = urllib.parse.urlsplit(self.app_url).path
        self.gw = Conn(self.app_url)

    def deploy_once(self, marker: str, poll: float) -> tuple[float, dict]:
        """ms from PUT to the first 200 with `marker` through the gateway, and the ms of
        the deploy's stages (STARTING, HEALTH_CHECK, READY) from the PUT."""
        code = app_code(marker)
        self.gw.request("GET", self.path)  # a warm poller connection
        t0_wall = time.time()
        t0 = time.perf_counter()
        revision = self.api.update_app(self.name, {"main.py": code})
        deadline = t0 + 60
        while True:
            try:
                status, _, body = self.gw.request("GET", self.path)
            except OSError:
                status, body = 0, b""
            if status == 200 and marker.encode() in body:
                ms = (time.perf_counter() - t0) * 1000
                _, _, events = self.api.app_status(self.name)
                stages = {st: (t - t0_wall) * 1000 for rev, st, t in events if rev == revision}
                return ms, stages
            if time.perf_counter() > deadline:
                raise SystemExit(f"--start {self.start}: {marker} never answered")
            time.sleep(poll)

    def memory(self) -> dict:
        """USS (KiB) of the serving app's processes, and of the fork server."""
        tree = descendants(self.proc.pid)
        servers = [p for p in tree if "gofast_forkserver.py" in p[2]]
        server = [p for p in servers if not os.path.realpath(f"/proc/{p[0]}/exe").endswith("bwrap")]
        if self.start == "fork":
            zygote = server[0][0]
            apps = [p for p in tree if p[1] == zygote]
            app = [uss_kib(p[0]) for p in apps]
            return {"app_kib": app, "fork_server_kib": uss_kib(zygote) + sum(uss_kib(p[0]) for p in servers if p[0] != zygote)}
        # exec: one bwrap (outer), its init, and the runner, per app.
        outer = [p for p in tree if p[1] == self.proc.pid and "bwrap" in p[2]]
        app = []
        for o in outer:
            app.append(uss_kib(o[0]) + sum(uss_kib(p[0]) for p in descendants(o[0])))
        return {"app_kib": app}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gofast", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--poll-ms", type=float, default=2)
    ap.add_argument("--idle-seconds", type=float, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gofast-warm-")
    platforms = []
    try:
        for start in ("fork", "exec"):
            platforms.append(Platform(a.gofast, a.venv, start, work))
        for p in platforms:
            p.create("warm", work)
        nonce = uuid.uuid4().hex[:8]
        samples: dict[str, list[float]] = {p.start: [] for p in platforms}
        # STARTING -> READY: the start itself (spawn, the app's own start, /health).
        starts: dict[str, list[float]] = {p.start: [] for p in platforms}
        for i in range(a.runs):
            order = platforms if i % 2 == 0 else platforms[::-1]
            for p in order:
                ms, stages = p.deploy_once(f"{p.start}-{i}-{nonce}", a.poll_ms / 1000)
                samples[p.start].append(ms)
                start_ms = stages.get("READY", 0) - stages.get("STARTING", 0)
                starts[p.start].append(start_ms)
                log(
                    f"{p.start:4} deploy {i + 1:2}/{a.runs}: first new 200 after {ms:6.1f} ms "
                    f"(STARTING -> READY {start_ms:6.1f} ms)"
                )
        log(f"idle {a.idle_seconds}s, then memory")
        time.sleep(a.idle_seconds)
        memory = {p.start: p.memory() for p in platforms}
        results = {
            "runs": a.runs,
            "load": loadavg(),
            "deploy_ms": {k: summary(v) for k, v in samples.items()},
            "start_ms": {k: summary(v) for k, v in starts.items()},
            "memory": memory,
        }
        print(report(results))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        for p in platforms:
            p.stop()


def report(r: dict) -> str:
    lines = [
        f"Warm starts: {r['runs']} deploys each, alternating; load after: {r['load']}",
        "",
        "| start | deploy -> first 200 p50 | p90 | min | max | of which STARTING -> READY p50 | idle app USS |",
        "|---|---|---|---|---|---|---|",
    ]
    for start in ("fork", "exec"):
        d, m, st = r["deploy_ms"][start], r["memory"][start], r["start_ms"][start]
        uss = ", ".join(f"{k / 1024:.1f} MiB" for k in m["app_kib"]) or "?"
        lines.append(
            f"| {start} | {d['median']:.1f} ms | {d['p90']:.1f} ms | {d['min']:.1f} ms | {d['max']:.1f} ms "
            f"| {st['median']:.1f} ms | {uss} |"
        )
    fs = r["memory"]["fork"].get("fork_server_kib")
    if fs is not None:
        lines.append("")
        lines.append(f"The fork server itself (shared by every app of the platform): {fs / 1024:.1f} MiB USS.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
