"""gofast fork server (zygote): warm starts for the embedded runtime.

The control plane embeds this file beside gofast_runner.py and runs it, once per Python
environment, inside a bubblewrap sandbox built like an app's but keeping the few
capabilities the per-app setup needs:

    <venv>/bin/python -I /runner/gofast_forkserver.py <control fd>

It imports the server stack (fastapi, starlette, pydantic, uvicorn and the runner),
freezes the heap (gc.freeze: the pages stay shared with every child), and then serves
requests on <control fd>, a SOCK_SEQPACKET socket the control plane made. Messages are
JSON, one per packet, with file descriptors as SCM_RIGHTS:

    control plane -> server
      {"op": "init", "seccomp": [hex, ...], "keep_in_tmp": [path, ...]}
          once, first: the BPF programs, and what the sandbox bound below /tmp
      {"op": "spawn", "id", "uid", "app", "run", "env", "rlimits", "tmp_size", "probe"}
          + fds [stdout write end, stderr write end, app dir, run dir, cgroup.procs...]
      {"op": "kill", "id", "signal"}
    server -> control plane
      {"ready": pid}                                  after init
      {"spawned": id, "pid": pid} | {"failed": id, "error": text}
      {"exit": id, "code": n} | {"exit": id, "signal": n}

Each child enters the app's box before it runs anything of the app's: it is pid 1 of a
new PID namespace with a /proc of its own, in new mount, network (loopback only), IPC,
UTS and cgroup namespaces, in the app's cgroups, with /app (read-only) and /run/gofast
bound from the app's own directories and nothing else of the data dir, a fresh /tmp, the
app's rlimits, only fds 0-2, then the app's uid with no groups, no capabilities (bounding
set emptied too), no_new_privs, a parent-death signal, and last the seccomp filters. Any
step that fails ends the child (exit 125) with one line on its stderr, which is the
app's log: it never goes on half isolated.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys

# Where the sandbox binds the data dir's apps directory (revision files and run dirs).
# Only this process's mount namespace has it; each child detaches it after binding its own.
APPS = "/.gofast-apps"
APP_DIR = "/app"
RUN_DIR = "/run/gofast"
EXIT_SETUP = 125
MAX_MESSAGE = 256 * 1024
MAX_FDS = 16

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 1
LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class SetupError(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        e = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(e)} (errno {e})")


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(src), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount(target: str) -> None:
    _check(_libc.umount2(_b(target), MNT_DETACH), f"umount {target}")


def prctl(option: int, arg: int, what: str) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), what)


def bind(src: str, target: str, flags: int) -> None:
    mount(src, target, None, MS_BIND)
    # A bind ignores most flags; they hold only once remounted.
    mount(None, target, None, MS_BIND | MS_REMOUNT | flags)


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp(program: bytes) -> None:
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _Fprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(
        _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0),
        "load the seccomp filter",
    )


def drop_capabilities(last_cap: int) -> None:
    for cap in range(last_cap + 1):
        prctl(PR_CAPBSET_DROP, cap, f"drop capability {cap} from the bounding set")


def clear_capabilities() -> None:
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "clear the capabilities")


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        import fcntl

        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _same_file(path: str, fd: int) -> None:
    a, b = os.stat(path), os.fstat(fd)
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
        raise SetupError(f"{path} is not the directory the platform handed over")


def _below_tmp(path: str) -> str:
    if os.path.normpath(path) != path or not path.startswith("/tmp/"):
        raise SetupError(f"{path!r} is not a plain path below /tmp")
    return path


def _below_apps(rel: str) -> str:
    path = os.path.normpath(os.path.join(APPS, rel))
    if not path.startswith(APPS + "/"):
        raise SetupError(f"{rel!r} is not below the apps directory")
    return path


class Server:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.seccomp: list[bytes] = []
        self.keep_in_tmp: list[str] = []
        self.children: dict[int, str] = {}  # pid -> id
        self.by_id: dict[str, int] = {}
        self.pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector = selectors.DefaultSelector()

    def send(self, message: dict) -> None:
        try:
            self.sock.send(json.dumps(message).encode())
        except OSError:
            # The control plane is gone: so are we (and, with us, the apps).
            os._exit(0)

    def run(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        self.selector.register(self.sock, selectors.EVENT_READ, "control")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "signal")
        while True:
            for key, _ in self.selector.select():
                if key.data == "signal":
                    try:
                        while os.read(self.wake_r, 64):
                            pass
                    except BlockingIOError:
                        pass
                    self.reap()
                else:
                    self.receive()

    def receive(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, MAX_FDS)
        except InterruptedError:
            return
        if not data:
            os._exit(0)  # the control plane closed its end
        try:
            message = json.loads(data)
            op = message.get("op")
            if op == "init":
                self.seccomp = [bytes.fromhex(p) for p in message["seccomp"]]
                self.keep_in_tmp = [_below_tmp(p) for p in message.get("keep_in_tmp", [])]
                self.send({"ready": os.getpid()})
            elif op == "spawn":
                self.spawn(message, fds)
                fds = []
            elif op == "kill":
                self.kill(message["id"], int(message["signal"]))
        except Exception as exc:  # noqa: BLE001 - a bad message must not end the server
            print(f"gofast fork server: bad request: {exc!r}", file=sys.stderr, flush=True)
        finally:
            for fd in fds:
                os.close(fd)

    def spawn(self, req: dict, fds: list[int]) -> None:
        ident = str(req["id"])
        try:
            if not self.seccomp:
                raise SetupError("no seccomp filter was handed over")
            if len(fds) < 4:
                raise SetupError(f"{len(fds)} fds handed over, 4 or more expected")
            # The child is pid 1 of a PID namespace of its own; the next child gets
            # another, so our children's namespace is pointed back at ours afterwards.
            _check(_libc.unshare(CLONE_NEWPID), "unshare the PID namespace")
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                pid = os.fork()
            finally:
                if _libc.setns(self.pidns, CLONE_NEWPID) != 0 and os.getpid() != 1:
                    # Every later child would nest deeper: start over instead.
                    print("gofast fork server: cannot return to its PID namespace", file=sys.stderr, flush=True)
                    os._exit(1)
            if pid == 0:
                self.child(req, fds)  # never returns
        except (OSError, SetupError) as exc:
            self.send({"failed": ident, "error": str(exc)})
            return
        finally:
            for fd in fds:
                os.close(fd)
        self.children[pid] = ident
        self.by_id[ident] = pid
        self.send({"spawned": ident, "pid": pid})

    def kill(self, ident: str, signum: int) -> None:
        pid = self.by_id.get(str(ident))
        if pid is None:
            return
        # The app is pid 1 of its namespace and the leader of its session: signal the
        # group, so a stop reaches the processes it started too.
        for send in (os.killpg, os.kill):
            try:
                send(pid, signum)
                return
            except ProcessLookupError:
                continue

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ident = self.children.pop(pid, None)
            if ident is None:
                continue
            self.by_id.pop(ident, None)
            if os.WIFSIGNALED(status):
                self.send({"exit": ident, "signal": os.WTERMSIG(status)})
            else:
                self.send({"exit": ident, "code": os.waitstatus_to_exitcode(status)})

    def child(self, req: dict, fds: list[int]) -> None:
        """In the forked child (pid 1 of its own PID namespace): enter the box, then run
        the app. Never returns; any failure ends the process."""
        try:
            out_w, err_w, app_fd, run_fd, *procs = fds
            # Output first, so every failure below lands in the app's log.
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
        except BaseException:  # noqa: BLE001
            os._exit(EXIT_SETUP)
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.selector.close()
            self.sock.detach()  # closed below with every other fd; never by the GC later
            # Nothing of the other apps stays in this process's memory.
            self.children.clear()
            self.by_id.clear()
            enter_box(req, app_fd, run_fd, procs, self.seccomp, self.last_cap, self.keep_in_tmp)
        except BaseException as exc:  # noqa: BLE001 - fail closed, whatever went wrong
            try:
                os.write(2, f"gofast: the app's sandbox could not be set up: {exc}\n".encode())
            finally:
                os._exit(EXIT_SETUP)
        try:
            if req.get("probe"):
                code = self_check()
            else:
                import gofast_runner

                gofast_runner.main()
                code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def enter_box(
    req: dict,
    app_fd: int,
    run_fd: int,
    procs: list[int],
    seccomp: list[bytes],
    last_cap: int,
    keep_in_tmp: list[str] = (),
) -> None:
    uid = int(req["uid"])
    if uid <= 0:
        raise SetupError("refusing to run an app as root")
    os.setsid()
    for fd in procs:
        os.write(fd, b"0")
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare namespaces")
    # Joined the app's cgroups first, so they are the root of its cgroup view.
    _check(_libc.unshare(CLONE_NEWCGROUP), "unshare the cgroup namespace")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # A /proc of this PID namespace: the app sees itself and its own children only.
    # Mounted over the server's, /dev/pts and /tmp too: what lies beneath cannot be
    # reached without unmounting, which takes capabilities (and the filter refuses).
    # Each unmount waits for an RCU grace period; the apps directory's is the one paid.
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Its own pseudo-terminals, as bwrap's --dev gives.
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    app = _below_apps(req["app"])
    run = _below_apps(req["run"])
    _same_file(app, app_fd)
    _same_file(run, run_fd)
    bind(app, APP_DIR, MS_RDONLY | MS_NOSUID | MS_NODEV)
    bind(run, RUN_DIR, MS_NOSUID | MS_NODEV)
    # Nothing else of the data dir: the other apps' files leave this namespace.
    umount(APPS)
    # The server's /tmp would be shared by every app: a fresh one over it. What the
    # sandbox bound below /tmp (a venv in a temp dir) is bound again on top, read-only,
    # as bwrap gives an exec'd app: reached through fds opened before it is covered.
    kept = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)) for p in keep_in_tmp]
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={int(req['tmp_size'])}")
    for path, fd in kept:
        os.makedirs(path, mode=0o755, exist_ok=True)
        bind(f"/proc/self/fd/{fd}", path, MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    loopback_up()
    for res, value in req["rlimits"]:
        soft, hard = resource.getrlimit(res)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(res, (value, value))
    # Only stdin, stdout and stderr: the control socket, the directories and the
    # cgroup files handed over, and anything else, are closed.
    os.closerange(3, 1 << 20)
    drop_capabilities(last_cap)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    clear_capabilities()
    prctl(PR_SET_NO_NEW_PRIVS, 1, "set no_new_privs")
    # After the uid change, which clears it.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "set the parent-death signal")
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in req["env"].items()})
    os.chdir(APP_DIR)
    # Last: from here on the calls above are refused.
    for program in seccomp:
        load_seccomp(program)


def _status_field(name: str) -> str:
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def self_check() -> int:
    """Run once at start in a child that entered the box, as an app would."""
    problems = []
    if os.getuid() == 0 or os.geteuid() == 0:
        problems.append("runs as root")
    for field in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        if int(_status_field(field) or "1", 16) != 0:
            problems.append(f"{field} is not empty")
    if _status_field("NoNewPrivs") != "1":
        problems.append("no_new_privs is not set")
    if _status_field("Seccomp") != "2":
        problems.append("no seccomp filter")
    if [n for _, n in socket.if_nameindex()] != ["lo"]:
        problems.append("interfaces besides loopback")
    if os.getpid() != 1:
        problems.append("not in a PID namespace of its own")
    if _libc.unshare(0x10000000) != -1 or ctypes.get_errno() != errno.EPERM:
        problems.append("unshare was not refused")
    if os.path.exists(APPS) and os.listdir(APPS):
        problems.append("the apps directory is visible")
    if sorted(os.listdir("/proc/self/fd")) != ["0", "1", "2", "3"]:  # 3: listdir's own
        problems.append(f"fds besides 0-2: {os.listdir('/proc/self/fd')}")
    if not os.path.isfile(os.path.join(APP_DIR, "probe")):
        problems.append("/app is not the app's directory")
    for p in problems:
        print(f"gofast fork server self-check: {p}", file=sys.stderr, flush=True)
    return 1 if problems else 0


WARM_UP_APP = """
from typing import Optional

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []
    note: Optional[str] = None


app = FastAPI(title="warm-up")
app.add_middleware(CORSMiddleware, allow_origins=["*"])


async def common(limit: int = Query(10, le=100)) -> int:
    return limit


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/items/{item_id}")
async def read(item_id: int, q: str | None = None, limit: int = Depends(common)):
    if item_id < 0:
        raise HTTPException(status_code=404, detail="no such item")
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/items", response_model=Item, status_code=201)
async def create(item: Item, request: Request) -> Item:
    return item


@app.get("/sync")
def sync_root() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/page", response_class=HTMLResponse)
async def page() -> str:
    return "<p>hi</p>"
"""


def warm_up() -> None:
    """Do once here what every app's start does first, so the children share the result.

    FastAPI and pydantic import most of themselves lazily, on the first app, route, model
    and request: building a throwaway app with typical routes and models, its OpenAPI
    schema, one request through it and uvicorn's config makes those imports (and
    pydantic's schema machinery) part of the frozen heap instead of ~100 ms of each start.
    Only async endpoints are called: no thread may exist when the server forks.
    """
    import asyncio

    import uvicorn

    # Run as its own module (no `from __future__ import annotations`), as apps are.
    import types

    module = types.ModuleType("gofast_warm_up")
    sys.modules[module.__name__] = module  # pydantic resolves the models' names there
    exec(compile(WARM_UP_APP, "<gofast warm-up>", "exec"), module.__dict__)
    app = module.app
    app.openapi()

    async def call(method: str, path: str, query: bytes = b"", body: bytes = b"") -> None:
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            pass

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"warm-up"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        await app(scope, receive, send)

    async def requests() -> None:
        await call("GET", "/")
        # A sync endpoint runs in anyio's worker thread: its first use costs ~25 ms.
        await call("GET", "/sync")
        await call("GET", "/items/3", b"q=x&limit=5")
        await call("GET", "/items/-1")
        await call("POST", "/items", body=b'{"name": "a", "price": 1.5, "tags": ["x"]}')
        await call("POST", "/items", body=b'{"name": "", "price": -1}')
        await call("GET", "/page")
        await call("GET", "/openapi.json")
        await call("GET", "/docs")

    asyncio.run(requests())
    # anyio stops its worker threads when the run ends; none may be left at a fork.
    import threading
    import time

    deadline = time.monotonic() + 5
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    # What uvicorn loads at start (protocols, middleware, logging config); the child's
    # own Config does it again, for its socket and its app.
    uvicorn.Config(app, uds="/nonexistent/app.sock", http="h11", ws="wsproto", loop="asyncio", lifespan="on").load()
    asyncio.set_event_loop_policy(None)
    del sys.modules[module.__name__]


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: gofast_forkserver.py <control fd>", file=sys.stderr)
        sys.exit(2)
    sys.dont_write_bytecode = True
    sock = socket.socket(fileno=int(sys.argv[1]))
    sock.setblocking(True)
    os.set_inheritable(sock.fileno(), False)
    # What every app imports, once: the children share these pages.
    import fastapi  # noqa: F401
    import fastapi.responses  # noqa: F401
    import pydantic  # noqa: F401
    import starlette.applications  # noqa: F401
    import uvicorn  # noqa: F401
    import uvicorn.config  # noqa: F401
    import uvicorn.lifespan.on  # noqa: F401
    import uvicorn.loops.asyncio  # noqa: F401
    import uvicorn.protocols.http.h11_impl  # noqa: F401
    import uvicorn.protocols.websockets.wsproto_impl  # noqa: F401

    # The runner sits beside this file; -I keeps the script's directory off sys.path,
    # and it goes off again, so an app's imports resolve exactly as in a cold start.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    try:
        import gofast_runner  # noqa: F401
    finally:
        sys.path.remove(here)

    warm_up()
    import threading

    if threading.active_count() != 1:
        # A thread would be copied into no child, holding whatever lock it held.
        print("gofast fork server: a thread is running after the warm-up; not forking", file=sys.stderr)
        sys.exit(1)
    server = Server(sock)
    gc.collect()
    gc.freeze()
    server.run()


if __name__ == "__main__":
    main()
