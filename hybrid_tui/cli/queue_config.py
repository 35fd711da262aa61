"""The config file's `[queue]` table: the defaults of `queue start` (issue 24).

Click applies them as the `queue` group's `default_map`, so a flag on the command line wins and
nothing here merges values by hand. Read only when `queue start` runs (never at CLI start), with
the standard library's `tomllib`; a wrong file is one line naming the file, the key and the fix.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from hybrid_tui.errors import HybridTuiError

# `queue start`'s parameter -> (the TOML types it takes, what to write instead)
KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "backend": ((str,), '"local" or "slurm"'),
    "gpus": ((str,), 'GPU indices as a string, e.g. "0,1"'),
    "slots": ((int,), "a whole number, e.g. 2"),
    "partition": ((str,), 'a string, e.g. "gpu"'),
    "account": ((str,), 'a string, e.g. "my-lab"'),
    "time": ((str,), 'a string, e.g. "4:00:00"'),
    "gpus_per_job": ((int,), "a whole number, e.g. 1"),
    "nodes": ((int,), "a whole number, e.g. 1"),
    "sbatch_arg": ((list,), 'a list of KEY=VALUE strings, e.g. ["mem=16G"]'),
    "signal_grace": ((int,), "a whole number of seconds, e.g. 120"),
    "shared_dir": ((bool,), "true or false"),
}
LOCAL_ONLY = ("gpus", "slots")
"""The local backend's keys; every other key but `backend` is Slurm's. A file may hold both:
the backend `queue start` runs takes its own and leaves the other's."""

TOML_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a float"}
TOML_TYPES |= {list: "an array", dict: "a table"}


def queue_start_defaults(path: Path) -> dict[str, object]:
    """`queue start`'s defaults from `path`'s `[queue]` (and `[queue.start]`) table, keyed by
    parameter name; {} without the file."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise HybridTuiError(
            f"{path} is not valid TOML ({err}); fix the file or remove it"
        ) from err
    queue = data.get("queue", {})
    _check_table(path, "queue", queue)
    start = queue.get("start", {})
    _check_table(path, "queue.start", start)
    defaults: dict[str, object] = {}
    for section, table in (("queue", queue), ("queue.start", start)):
        for key, value in table.items():
            if section == "queue" and key == "start":
                continue
            name = key.replace("-", "_")
            defaults[name] = _checked(path, section, key, name, value)
    return defaults


def _check_table(path: Path, section: str, value: object) -> None:
    if not isinstance(value, dict):
        raise HybridTuiError(
            f"{path}: `{section}` is {_toml_type(value)}; make it a table ([{section}] with "
            "key = value lines below it)"
        )


def _checked(path: Path, section: str, key: str, name: str, value: object) -> object:
    if name not in KEYS:
        raise HybridTuiError(
            f"{path}: [{section}] has no key {key!r}; use one of {', '.join(KEYS)}, or remove it"
        )
    types, fix = KEYS[name]
    fits = isinstance(value, types) and (bool in types or not isinstance(value, bool))
    if fits and isinstance(value, list):
        fits = all(isinstance(item, str) for item in value)
    if not fits:
        raise HybridTuiError(f"{path}: [{section}] {key} is {_toml_type(value)}; give {fix}")
    return value


def _toml_type(value: object) -> str:
    return next((name for kind, name in TOML_TYPES.items() if isinstance(value, kind)), "a date")
