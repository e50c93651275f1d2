"""What the benchmarks read from /proc: a process tree and its memory."""

from __future__ import annotations

import os


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process below `root`."""
    found, todo = [], [root]
    while todo:
        parent = todo.pop()
        for child in children(parent):
            found.append((child, parent, cmdline(child)))
            todo.append(child)
    return found


def rollup(pid: int) -> dict[str, int]:
    """kB figures of /proc/PID/smaps_rollup (empty if the process is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    out[parts[0][:-1]] = int(parts[1])
    except OSError:
        pass
    return out


def uss_kib(pid: int) -> int:
    """Unique set size: the pages no other process maps."""
    r = rollup(pid)
    return r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) + r.get("Private_Hugetlb", 0)


def uid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1
