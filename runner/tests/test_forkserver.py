"""The fork server's pure parts; the box itself is tested end to end (cli/tests/warm_starts.rs)."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "gofast_forkserver", Path(__file__).resolve().parents[1] / "gofast_forkserver.py"
)
fs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fs)


@pytest.mark.parametrize("rel", ["../etc", "a/../../etc", "/etc", "", "."])
def test_only_paths_below_the_apps_dir_are_bound(rel):
    with pytest.raises(fs.SetupError):
        fs._below_apps(rel)


def test_an_app_path_resolves_below_the_apps_dir():
    assert fs._below_apps("a1b2/r1-xyz") == fs.APPS + "/a1b2/r1-xyz"
    assert fs._below_apps(".run/a1b2-abc") == fs.APPS + "/.run/a1b2-abc"


def test_a_directory_that_is_not_the_one_handed_over_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    import os

    fd = os.open(tmp_path / "a", os.O_RDONLY)
    try:
        fs._same_file(str(tmp_path / "a"), fd)
        with pytest.raises(fs.SetupError):
            fs._same_file(str(tmp_path / "b"), fd)
    finally:
        os.close(fd)


def test_a_spawn_without_the_seccomp_filter_fails_closed():
    """The server refuses to fork before it has the filter, and says so to the caller."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = fs.Server.__new__(fs.Server)
    server.sock = theirs
    server.seccomp = []
    server.children, server.by_id = {}, {}
    server.spawn({"id": "s1"}, [])
    reply = json.loads(ours.recv(4096))
    assert reply["failed"] == "s1"
    assert "seccomp" in reply["error"]
    ours.close()
    theirs.close()

