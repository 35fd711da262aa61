"""Shared helpers for the benchmarks: machine description, medians, interleaved rounds, tables.

Every benchmark runs its hybrid-tui side and its baseline side in the same process, alternating
them round by round (ABAB..., with the order flipped every other round), and reports medians, so
load from other processes on a shared machine hits both sides alike.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def setup_env() -> None:
    """The model cache CI uses (the prepared e5-small-offline is reused) and the shared data."""
    os.environ.setdefault("HYBRID_TUI_CACHE", str(REPO / ".hybrid-tui" / "cache"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def data_root() -> Path:
    for candidate in (
        os.environ.get("HYBRID_TUI_DATA"),
        REPO.parent / "shared" / "data" / "lareqa",
    ):
        if candidate and (Path(candidate) / "xquad-r").is_dir():
            return Path(candidate).resolve()
    sys.exit(
        "LAReQA data not found: set HYBRID_TUI_DATA (the folder holding xquad-r/, mlqa-dev-r/)"
    )


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    try:
        import torch

        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        info["commit"] = commit
    except OSError:
        pass
    return info


def print_machine(title: str) -> None:
    info = machine()
    print(f"== {title}")
    print("   " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"   command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    sys.stdout.flush()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (a server's or a rendezvous')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def interleave(sides: dict[str, Callable[[], float]], rounds: int, label=None) -> dict[str, list]:
    """Run each side once per round, alternating the order each round; collect what each returns."""
    names = list(sides)
    out: dict[str, list] = {name: [] for name in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            out[name].append(sides[name]())
        if label:
            last = ", ".join(f"{n}={out[n][-1]:.4g}" for n in names)
            print(f"   round {r + 1}/{rounds}: {last}", flush=True)
    return out


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append(
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)) + " |"
    )
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append(
            "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
