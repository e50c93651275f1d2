"""How many apps one machine holds: deploys N apps (500 by default) through the
REST API, waits until every one has gone to sleep, then requests each one in
turn so that the request wakes it. Run by `scripts/bench.sh density`, which
starts `gofast up --sleep-after ...` and passes its pid.

It records, beside each other in one run:

- deploy -> first 200 through the gateway for every app (API call to answer),
- the memory of the platform and all its apps: the sum of PSS over `gofast up`
  and every process below it (PSS shares each shared page among the processes
  that map it, so the sum is what they cost together), and the USS (private
  pages) of each app process, with everything awake after the deploys, with
  everything asleep, and after every app was woken again,
- the first request to each sleeping app (the wake), percentiles,
- /healthz of the platform, polled every 100 ms through the whole run from a
  thread of its own: how many polls, how many failed, the slowest.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gofast_bench import Api, Conn, log, machine, pct, summary  # noqa: E402
from procfs import descendants, rollup, uid  # noqa: E402

CODE = (
    "from fastapi import FastAPI\n\n"
    "app = FastAPI()\n\n\n"
    '@app.get("/")\n'
    "def root() -> dict[str, str]:\n"
    '    return {{"app": "{name}"}}\n'
)


# Apps run as uids from here on (runtime/local/sandbox.rs, APP_UID_BASE).
APP_UID_BASE = 1_000_000_000


def memory(up_pid: int) -> dict:
    """PSS of the whole tree (what it all costs together), and the USS
    (private pages) of each app: the processes of its uid together."""
    pss, per_app, others = 0, {}, 0
    pids = [up_pid] + [p for p, _, _ in descendants(up_pid)]
    for p in pids:
        r = rollup(p)
        pss += r.get("Pss", 0)
        uss = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) + r.get("Private_Hugetlb", 0)
        u = uid(p)
        if u >= APP_UID_BASE:
            per_app[u] = per_app.get(u, 0) + uss
        else:
            others += uss
    uss_apps = [v / 1024 for v in per_app.values()]
    return {
        "processes": len(pids),
        "pss_total_mib": round(pss / 1024, 1),
        "platform_uss_mib": round(others / 1024, 1),
        "apps_running": len(uss_apps),
        "app_uss_mib": summary(uss_apps) if uss_apps else None,
    }


# ---------------------------------------------------------------- driver ---


class Healthz(threading.Thread):
    """Polls /healthz every 100 ms on its own connection until stopped."""

    def __init__(self, server: str):
        super().__init__(daemon=True)
        self.conn = Conn(server, timeout=10)
        self.stop = threading.Event()
        self.ms: list[float] = []
        self.failures = 0

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.perf_counter()
            try:
                status, _, _ = self.conn.request("GET", "/healthz")
                if status != 200:
                    self.failures += 1
            except OSError:
                self.failures += 1
            self.ms.append((time.perf_counter() - t) * 1000)
            self.stop.wait(0.1)

    def report(self) -> dict:
        return {"polls": len(self.ms), "failures": self.failures, **summary(self.ms), "p99": pct(self.ms, 99)}


def first_200(url: str, timeout: float = 60) -> float:
    """Seconds until GET url answers 200 (polling every 2 ms)."""
    conn = Conn(url, timeout=timeout)
    path = urllib.parse.urlsplit(url).path
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            status, _, _ = conn.request("GET", path)
            if status == 200:
                conn.close()
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit(f"{url} did not answer 200 within {timeout}s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True)
    p.add_argument("--config-dir", required=True)
    p.add_argument("--pid", type=int, required=True, help="gofast up's pid")
    p.add_argument("--apps", type=int, default=500)
    p.add_argument("--json")
    p.add_argument("--gofast", help="unused; scripts/bench.sh passes it to every driver")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    server = a.server.rstrip("/")
    creds = json.load(open(os.path.join(a.config_dir, "credentials.json")))
    api = Api(server, creds["servers"][server]["access_token"])
    health = Healthz(server)
    health.start()
    results: dict = {"machine": machine(), "apps": a.apps}
    idle = memory(a.pid)
    results["memory_idle_platform"] = idle

    log(f"deploying {a.apps} apps")
    urls, deploy_ms = [], []
    started = time.perf_counter()
    for i in range(a.apps):
        name = f"d{i:04d}"
        t = time.perf_counter()
        app = api.call("POST", "/api/apps", {"name": name, "files": [{"name": "main.py", "content": CODE.format(name=name)}]})
        first_200(app["url"])
        deploy_ms.append((time.perf_counter() - t) * 1000)
        urls.append(app["url"])
        if (i + 1) % 50 == 0:
            log(f"{i + 1} deployed; deploy->200 p50 {pct(deploy_ms, 50):.0f} ms")
    results["deploy_all_s"] = round(time.perf_counter() - started, 1)
    results["deploy_to_200_ms"] = dict(summary(deploy_ms), p99=pct(deploy_ms, 99))
    results["memory_all_awake"] = memory(a.pid)
    log(f"all awake: {results['memory_all_awake']}")

    log("waiting for every app to sleep")
    t = time.perf_counter()
    while True:
        apps = api.call("GET", "/api/apps")
        asleep = sum(1 for x in apps if x["status"] == "SLEEPING")
        if asleep == a.apps:
            break
        if time.perf_counter() - t > 900:
            raise SystemExit(f"only {asleep} of {a.apps} apps went to sleep in 15 minutes")
        time.sleep(2)
    results["memory_all_asleep"] = memory(a.pid)
    log(f"all asleep: {results['memory_all_asleep']}")

    log("waking every app with one request each")
    wake_ms = []
    for url in urls:
        conn = Conn(url, timeout=60)
        t = time.perf_counter()
        status, _, body = conn.request("GET", urllib.parse.urlsplit(url).path)
        wake_ms.append((time.perf_counter() - t) * 1000)
        conn.close()
        if status != 200:
            raise SystemExit(f"{url}: HTTP {status} {body[:200]!r}")
    results["wake_first_request_ms"] = dict(summary(wake_ms), p99=pct(wake_ms, 99))
    results["memory_all_woken"] = memory(a.pid)
    health.stop.set()
    health.join()
    results["healthz"] = health.report()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
