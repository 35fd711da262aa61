"""`hybrid-tui ui` (issue 13 item 9): a SIGTERM to the wrapper stops the whole MLflow server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _children() -> dict[int, list[int]]:
    """ppid -> pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(root: int) -> set[int]:
    tree, found, todo = _children(), set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += tree.get(pid, [])
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_to_the_ui_stops_the_server_and_its_workers(workdir: Path) -> None:
    port = _free_port()
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "hybrid_tui", "ui", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"},
    )
    try:
        deadline = time.monotonic() + 120
        while not _port_answers(port):
            assert wrapper.poll() is None, wrapper.stderr.read().decode()
            assert time.monotonic() < deadline, "the MLflow UI did not start within 120 s"
            time.sleep(0.3)
        tree = _tree(wrapper.pid)
        assert len(tree) >= 3, tree  # the wrapper, mlflow, and uvicorn's server/worker
        wrapper.send_signal(signal.SIGTERM)
        code = wrapper.wait(timeout=60)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
    assert code is not None
    deadline = time.monotonic() + 5  # orphans killed last are reaped by init just after
    while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in tree if _alive(pid)], "a process of the UI's tree is still alive"
    assert not _port_answers(port), f"something still answers on port {port}"
