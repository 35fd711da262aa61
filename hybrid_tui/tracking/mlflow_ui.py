"""`hybrid-tui ui`: the real MLflow UI on the same store, bound to 127.0.0.1 unless asked, with a
link to each experiment's runs view (MLflow 3 opens its GenAI view otherwise).

The server (mlflow → uvicorn, with its workers) runs in its own process group, and SIGTERM,
SIGINT and SIGHUP to this wrapper are forwarded to that whole group: otherwise a `kill` of the
wrapper re-parents the server, which keeps answering on the port.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time

from hybrid_tui.tracking.sqlite_reads import SqliteReads, Unreadable
from hybrid_tui.tracking.store import sqlite_path

STOP_GRACE_S = 10.0
LINKS_SHOWN = 10  # the newest experiments' runs links printed at start
RUNS_VIEW = "workflowType=machine_learning"
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def serve_mlflow_ui(uri: str, host: str, port: int) -> None:
    """Run `mlflow ui` in the foreground: one worker, no job runner (2 processes, ~0.5 GB)."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: the MLflow UI will listen on {host}, reachable from other machines",
            file=sys.stderr,
        )
    print(f"MLflow UI on http://{host}:{port} (store {uri}); Ctrl-C stops it", file=sys.stderr)
    for line in runs_view_links(uri, host, port):
        print(line, file=sys.stderr)
    run_process_group(command, env)


def runs_view_links(uri: str, host: str, port: int) -> list[str]:
    """Where each experiment's runs are. MLflow 3's UI opens an experiment in the view its
    sidebar switch ("GenAI" by default, kept per browser) names, whatever the experiment's kind
    tag says; `?workflowType=machine_learning` opens the training runs view instead."""
    base = f"http://{_link_host(host)}:{port}/#/experiments"
    hint = 'runs are in the "Machine learning" view (the switch at the top of the sidebar)'
    db = sqlite_path(uri)
    try:
        experiments = SqliteReads(db).experiments() if db is not None else []
    except Unreadable:
        experiments = []
    shown = experiments[-LINKS_SHOWN:]
    if not shown:
        return [f"{hint}: {base}?{RUNS_VIEW}"]
    return [f"{hint}:"] + [
        f"  {name}: {base}/{experiment_id}/runs?{RUNS_VIEW}" for experiment_id, name in shown
    ]


def _link_host(host: str) -> str:
    """A browser cannot open the "every interface" address; the server answers on the loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a name
    if address.is_unspecified:
        return "127.0.0.1"
    return f"[{host}]" if address.version == 6 else host


def run_process_group(command: list[str], env: dict[str, str]) -> int:
    """Run `command` as the leader of a new process group until it exits or this process is told
    to stop; then stop the whole group (SIGTERM, SIGKILL after `STOP_GRACE_S`). Returns its code."""
    asked_to_stop: list[int] = []

    def forward(signum: int, _frame) -> None:
        asked_to_stop.append(signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED_SIGNALS}
    try:
        server = subprocess.Popen(command, env=env, start_new_session=True)
        while server.poll() is None and not asked_to_stop:
            try:
                server.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        stop_group(server, asked_to_stop[0] if asked_to_stop else signal.SIGTERM)
        return server.returncode
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_group(leader: subprocess.Popen, signum: int, grace_s: float = STOP_GRACE_S) -> None:
    """Send `signum` to every process of `leader`'s group (workers included), wait up to
    `grace_s` for all of them to go, then SIGKILL whatever is left and reap the leader."""
    group = leader.pid  # start_new_session: the group id is the leader's pid
    if not _signal_group(group, signum):
        leader.wait()
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        leader.poll()  # reap the leader, so a zombie does not keep the group "alive"
        if not _signal_group(group, 0):
            break
        time.sleep(0.1)
    else:
        _signal_group(group, signal.SIGKILL)
    leader.wait()
    while _signal_group(group, 0) and time.monotonic() < deadline + grace_s:
        time.sleep(0.05)  # killed workers are reaped by init once their parent is gone


def _signal_group(group: int, signum: int) -> bool:
    """Signal a process group; False when no process of it is left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
