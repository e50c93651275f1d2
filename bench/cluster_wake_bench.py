"""Sleep and wake in the cluster shape, on the test cluster's real node
(scripts/kube-node.sh start + traefik): `gofast up --runtime kubernetes` with
`--kube-activator-address`, every request through Traefik. Run by
`scripts/bench.sh cluster-wake`.

For each of N apps, beside each other in one run:

- an update: PUT of a new revision -> the first 200 with it through Traefik
  (a new pod, a rollout, Traefik's route),
- the wake: once the app sleeps (no pod, its route to the control plane), the
  first request through Traefik, until its answer (the control plane holds it,
  scales the app up, waits for the route, passes it on),
- the next request, to the app awake, through Traefik.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gofast_bench import Api, Conn, app_code, log, loadavg, summary  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = "gofast-node-0"
APPS_HOST = "apps.gofast.test"
# Where the node's pods (and Traefik) reach an exposed port of this machine.
POD_GATEWAY = "10.88.0.1"
# After SLEEPING: the pod's 5 s drain, its stop, Traefik's 2 s throttle.
ASLEEP_FOR_SURE = 12


def node_state() -> dict:
    path = os.path.join(ROOT, ".cache/kube/node-state")
    try:
        lines = open(path).read().splitlines()
    except OSError:
        raise SystemExit("no real node: scripts/kube-node.sh start, then scripts/kube-node.sh traefik")
    state = dict(line.split("=", 1) for line in lines if "=" in line)
    if "TRAEFIK_WEB_PORT" not in state:
        raise SystemExit("Traefik is not started: scripts/kube-node.sh traefik")
    return state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    def __init__(self, gofast: str, venv: str, work: str, sleep_after: str):
        state = node_state()
        self.gofast = gofast
        self.traefik = f"127.0.0.1:{state['TRAEFIK_WEB_PORT']}"
        port = free_port()
        subprocess.run([os.path.join(ROOT, "scripts/kube-node.sh"), "expose", str(port)], check=True)
        self.namespace = f"bench-{os.getpid()}"
        self.log_path = os.path.join(work, "up.log")
        self.proc = subprocess.Popen(
            [
                gofast, "up", "--addr", f"127.0.0.1:{port}", "--data-dir", os.path.join(work, "data"),
                "--runtime", "kubernetes", "--kube-namespace", self.namespace,
                "--public-url", "http://gofast.test", "--apps-url", f"http://{APPS_HOST}:{state['TRAEFIK_WEB_PORT']}",
                "--runner-image", "gofast.dev/runner:testenv", "--image-pull-policy", "never",
                "--kube-node-selector", f"kubernetes.io/hostname={NODE}",
                "--kube-toleration", "gofast.dev/real-node:NoSchedule",
                "--traefik-metrics-url", f"http://127.0.0.1:{state['TRAEFIK_API_PORT']}/metrics",
                "--kube-route-probe-url", f"http://{self.traefik}",
                "--traefik-api-url", f"http://127.0.0.1:{state['TRAEFIK_API_PORT']}",
                "--kube-activator-address", f"{POD_GATEWAY}:{port}",
                "--sleep-after", sleep_after, "--reconcile-seconds", "1",
            ],
            env=dict(os.environ, GOFAST_VENV=venv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "w"),
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not any(line.startswith("gofast is listening") for line in open(self.log_path)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gofast up did not start:\n{open(self.log_path).read()}")
            time.sleep(0.05)
        config = os.path.join(work, "config")
        self.env = dict(os.environ, GOFAST_SERVER=self.url, GOFAST_CONFIG_DIR=config, NO_COLOR="1")
        self.env.pop("GOFAST_TOKEN", None)
        self.cli("signup", "--email", "bench@example.com", "--password-stdin", stdin="bench-password\n")
        creds = json.load(open(os.path.join(config, "credentials.json")))
        self.api = Api(self.url, creds["servers"][self.url]["access_token"])
        self.api.check()
        self.work = work

    def cli(self, *argv: str, stdin: str = "") -> str:
        r = subprocess.run([self.gofast, *argv], env=self.env, input=stdin, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise SystemExit(f"gofast {' '.join(argv)} failed:\n{r.stderr}")
        return r.stdout.strip()

    def create(self, name: str) -> str:
        d = os.path.join(self.work, name)
        os.makedirs(d)
        main = os.path.join(d, "main.py")
        with open(main, "w") as f:
            f.write(app_code("setup"))
        return urllib.parse.urlsplit(self.cli("deploy", main, "--name", name)).path

    def get(self, conn: Conn, path: str) -> tuple[int, bytes]:
        try:
            status, _, body = conn.request("GET", path, headers={"host": APPS_HOST})
            return status, body
        except OSError:
            return 0, b""

    def until(self, path: str, marker: str, limit: float = 120) -> float:
        """ms until GET path through Traefik answers 200 with `marker`."""
        conn = Conn(f"http://{self.traefik}", timeout=limit)
        t0 = time.perf_counter()
        while True:
            status, body = self.get(conn, path)
            if status == 200 and marker.encode() in body:
                conn.close()
                return (time.perf_counter() - t0) * 1000
            if time.perf_counter() - t0 > limit:
                raise SystemExit(f"{path} never answered {marker}: {status} {body[:200]!r}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gofast", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--apps", type=int, default=5)
    ap.add_argument("--sleep-after", default="10s")
    ap.add_argument("--json")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gofast-cluster-wake-")
    log(f"load {loadavg()}; {args.apps} apps on {NODE}")
    p = Platform(args.gofast, args.venv, work, args.sleep_after)
    names = [f"wake{i}" for i in range(args.apps)]
    updates, wakes, awake = [], [], []
    try:
        paths = {}
        for n in names:
            # Created and updated in turn: each update meets its app awake.
            paths[n] = p.create(n)
            marker = f"update-{n}"
            t0 = time.perf_counter()
            p.api.update_app(n, {"main.py": app_code(marker)})
            p.until(paths[n], marker)
            updates.append((time.perf_counter() - t0) * 1000)
        log(f"updates (PUT -> first 200 through Traefik): {summary(updates)}")
        deadline = time.monotonic() + 180
        while any(p.api.app_status(n)[1] != "SLEEPING" for n in names):
            if time.monotonic() > deadline:
                raise SystemExit("the apps did not all fall asleep within 180 s")
            time.sleep(0.5)
        time.sleep(ASLEEP_FOR_SURE)
        for n in names:
            wakes.append(p.until(paths[n], f"update-{n}", limit=120))
            if p.api.app_status(n)[1] != "READY":
                raise SystemExit(f"{n} answered but is not READY")
            awake.append(p.until(paths[n], f"update-{n}"))
        log(f"wakes (first request to a sleeping app through Traefik): {summary(wakes)}")
        log(f"the next request, awake: {summary(awake)}")
    finally:
        for n in names:
            subprocess.run([args.gofast, "delete", n, "--yes"], env=p.env, capture_output=True, timeout=60)
        p.stop()
    result = {
        "load": loadavg(),
        "apps": args.apps,
        "update_ms": summary(updates),
        "wake_ms": summary(wakes),
        "awake_ms": summary(awake),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
