"""The GPU check's CPU dry run (`benchmarks/gpu_check.py --cpu-dry-run`), run as it would run on
a bare lent GPU machine: in a Python that sees only the packages that machine has (the list
below and what they themselves require, linked into a folder; no site-packages), with the
network cut. It must print its JSON line with a rate for every row, and import nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.xdist_group("gpu-check")  # one worker runs the dry run (a fixture), once
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
# what the lent machine's image holds, as the device notes and issue 25 list it
ON_THE_GPU_MACHINE = (
    "torch",
    "transformers",
    "sentence-transformers",
    "tokenizers",
    "safetensors",
    "typer",
    "rich",
    "numpy",
    "psutil",
    "nvidia-ml-py",
    "scipy",
    "matplotlib",
    "filelock",
)
# what it lacks, as modules and as distributions (left out of the simulated machine even where
# a package here requires one: typer here requires pydantic, the machine's typer goes without)
NOT_THERE = {
    "pydantic",
    "platformdirs",
    "tomli_w",
    "mlflow",
    "faiss",
    "textual",
    "datasets",
    "flash_attn",
}
NOT_THERE_DISTRIBUTIONS = NOT_THERE - {"tomli_w", "faiss", "flash_attn"} | {
    "tomli-w",
    "faiss-cpu",
    "flash-attn",
}
PROJECT = {
    "hybrid_tui",
    "_common",
    "_synthetic",
    "_project_step",
    "gpu_check",
    "bench_train_throughput",
}
KEYS = {"pairs_per_s", "tokens_per_s", "step_ms", "peak_mem_mib", "mfu"}
# The child: no site-packages (-S), the network cut, the modules it imported written at exit.
RUNNER = """
import atexit, json, runpy, socket, sys
tried = []
def _refuse(self, address, *rest):
    tried.append(repr(address))
    raise OSError("the GPU check's dry run reached for the network: " + repr(address))
socket.socket.connect = socket.socket.connect_ex = _refuse
dump_to, script = sys.argv[1], sys.argv[2]
def _dump():
    with open(dump_to, "w") as f:
        json.dump({"modules": sorted({m.split(".")[0] for m in sys.modules}), "network": tried}, f)
atexit.register(_dump)
sys.argv = [script, "--cpu-dry-run"]
runpy.run_path(script, run_name="__main__")
"""


def _closure(names) -> list[metadata.Distribution]:
    """The distributions named and everything they require (no extras), as installed here,
    less those the GPU machine lacks."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen or name in NOT_THERE_DISTRIBUTIONS:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional platform piece (e.g. CUDA wheels on a CPU build)
        seen[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _gpu_machine_packages(folder: Path) -> set[str]:
    """Link the closure's top-level modules and metadata into `folder`; their names."""
    folder.mkdir()
    for dist in _closure(ON_THE_GPU_MACHINE):
        site = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if (site / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(site / top)
    return {p.name.split(".")[0] for p in folder.iterdir() if not p.name.endswith("-info")}


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One dry run, shared by the tests below: (its JSON line, its imports and network tries)."""
    tmp = tmp_path_factory.mktemp("gpu-check")
    packages = _gpu_machine_packages(tmp / "site")
    assert NOT_THERE.isdisjoint(packages), "the simulated GPU machine must lack these"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "PYTHONPATH": str(tmp / "site"),
        "HF_HOME": str(tmp / "hf"),
        "HF_HUB_OFFLINE": "1",
        "PIP_NO_INDEX": "1",
        "OMP_NUM_THREADS": "1",
        "TMPDIR": str(tmp),
    }
    dump = tmp / "imports.json"
    proc = subprocess.run(
        [sys.executable, "-S", "-c", RUNNER, str(dump), str(SCRIPT)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1]
    return json.loads(line), json.loads(dump.read_text()), packages


def test_the_dry_run_prints_a_rate_for_every_side_model_precision_and_batch(dry_run):
    result, _, _ = dry_run
    assert result["mode"] == "cpu-dry-run" and result["errors"] == 0
    rows = result["rows"]
    sides = {r["side"] for r in rows}
    assert sides == {"project_padding_free", "padded_hf", "sentence_transformers"}
    assert {r["model"] for r in rows} == {"e5-small", "xlm-r-base", "labse"}
    assert {r["precision"] for r in rows} == {"fp32", "bf16"}
    assert {r["grad_cache_chunks"] for r in rows if r["side"] == "project_padding_free"} == {1, 2}
    for row in rows:
        assert KEYS <= row.keys(), row
        assert all(row[key] > 0 for key in KEYS), row
        assert row["tokens_per_s"] > row["pairs_per_s"], row  # a pair is many tokens
        assert 0 < row["mfu"] < 1, row
    assert result["sentence_transformers_attention"] == {
        "fp32": "sdpa, padded",
        "bf16": "sdpa, padded",
    }  # no flash-attn, no CUDA: sentence-transformers' best is SDPA, and the JSON says so
    assert result["project_attention"].startswith("repad")
    diffs = result["padding_free_vs_padded_max_abs_diff"]
    assert diffs.keys() == {"e5-small", "xlm-r-base", "labse"}
    assert all(diff < 1e-4 for diff in diffs.values()), diffs  # the same embeddings
    assert [r["model"] for r in result["eval_encode"]] == ["e5-small", "xlm-r-base", "labse"]
    assert all(r["texts_per_s"] > 0 for r in result["eval_encode"])


def test_the_dry_run_needs_only_what_the_gpu_machine_has(dry_run):
    _, seen, packages = dry_run
    assert seen["network"] == []
    outside = [
        name
        for name in seen["modules"]
        if name not in sys.stdlib_module_names
        and not name.startswith("_")  # interpreter internals (_io, _ssl, ...)
        and name not in packages | PROJECT | {"__main__", "cython_runtime"}
    ]
    assert outside == []
    assert NOT_THERE.isdisjoint(seen["modules"])
