"""Every place hybrid-tui keeps things on disk, and every environment variable of its own.

One module, so a reader finds where the state dir, the model cache or the tracking store comes
from, and in which order a flag, a recipe value and a variable win: an explicit choice (the CLI
flag, the recipe's value), else the variable, else the default. Nothing here creates a folder.
Imported by the CLI at start, so it imports only the standard library.

Torch's distributed variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`) and `CUDA_VISIBLE_DEVICES`
are not ours: torchrun and the queue set them to describe the process (its rank, its GPUs),
not where hybrid-tui keeps things, so they stay with the code that acts on them
(`training.distributed`, `devices`, `jobs.busy`, the run's tags).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "HYBRID_TUI_HOME"
"""The state dir: run files, the queue, launch logs, saved recipes."""
DEFAULT_STATE_DIR = ".hybrid-tui"
"""The state dir without `HYBRID_TUI_HOME`: in the working directory, beside `mlflow.db`."""
CACHE_ENV = "HYBRID_TUI_CACHE"
"""The prepared-model cache (default: the platform's user cache dir)."""
EMBEDDINGS_ENV = "HYBRID_TUI_EMBEDDINGS"
"""The corpus-embedding cache (default: inside the model cache); big corpora need a big disk."""
DATA_ENV = "HYBRID_TUI_DATA"
"""The LAReQA folder (xquad-r/, mlqa-dev-r/) when `--data-dir` is not given."""
MMMLU_ENV = "HYBRID_TUI_MMMLU"
"""A local MMMLU copy (a folder holding `test/mmlu_<TAG>.csv`) when it is not the data dir's
`mmmlu/`: what a recipe's `mmmlu` eval set reads, and what the study's MMMLU claim needs."""
LOG_FILE_ENV = "HYBRID_TUI_LOG_FILE"
"""Set by the launcher for a detached trainer: the launch log its output goes to, which the
trainer moves beside its run's files once the run exists."""
QUEUE_JOB_ENV = "HYBRID_TUI_QUEUE_JOB"
"""Set by the queue in the environment of each trainer it starts: `<job id>:<launch token>`.
The run records the job id; a restarted scheduler finds a trainer it had just spawned by the
token."""
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
"""MLflow's own variable, honoured as MLflow does: below a flag or a recipe value."""
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""The tracking store without a flag, a recipe value or `MLFLOW_TRACKING_URI`: beside the
state dir."""


def state_dir() -> Path:
    """`$HYBRID_TUI_HOME`, else `./.hybrid-tui`, absolute (a trainer may run elsewhere)."""
    return Path(os.environ.get(HOME_ENV, DEFAULT_STATE_DIR)).expanduser().resolve()


def config_path() -> Path:
    """The config file (`<state dir>/config.toml`): its `[queue]` table gives `queue start` its
    defaults. Beside the queue it configures, so `HYBRID_TUI_HOME` moves both; no variable of
    its own."""
    return state_dir() / "config.toml"


def runs_dir(home: Path | None = None) -> Path:
    """Where each run's local files live (`<state dir>/runs/<run id>`); `home` for another
    state dir."""
    return (home or state_dir()) / "runs"


def queue_db() -> Path:
    """The job queue (sqlite), one per state dir."""
    return state_dir() / "queue.db"


def cache_dir() -> Path:
    """The prepared-model cache: `$HYBRID_TUI_CACHE`, else the platform's user cache dir."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs  # only when needed: the CLI imports this module at start

    return Path(platformdirs.user_cache_dir("hybrid-tui"))


def embeddings_root() -> Path:
    """The corpus-embedding cache: `$HYBRID_TUI_EMBEDDINGS`, else `<model cache>/corpus-embeddings`."""
    configured = os.environ.get(EMBEDDINGS_ENV)
    if configured:
        return Path(configured).expanduser()
    return cache_dir() / "corpus-embeddings"


def resolve_data_root(chosen: str | None = None) -> str | None:
    """The LAReQA folder: `chosen` (`--data-dir`), else `$HYBRID_TUI_DATA`, else None (the
    data is downloaded)."""
    return chosen or os.environ.get(DATA_ENV) or None


def resolve_mmmlu_root(data_root: str | os.PathLike | None = None) -> str | None:
    """Where a recipe's `mmmlu` eval set and the study look for MMMLU: `$HYBRID_TUI_MMMLU`,
    else the data dir (`--data-dir` or `$HYBRID_TUI_DATA`; the copy is then its `mmmlu/`).
    `hybrid-tui eval --dataset mmmlu --data-dir DIR` reads DIR itself."""
    chosen = os.environ.get(MMMLU_ENV) or data_root or os.environ.get(DATA_ENV)
    return str(chosen) if chosen else None


def resolve_tracking_uri(chosen: str | None = None) -> str:
    """The tracking store: `chosen` (`--tracking-uri`, or a recipe's `[tracking] uri`), else
    `$MLFLOW_TRACKING_URI`, else `sqlite:///mlflow.db` in the working directory."""
    return chosen or os.environ.get(TRACKING_URI_ENV) or DEFAULT_TRACKING_URI


def queue_job() -> str | None:
    """`<job id>:<launch token>` when the queue started this process, else None."""
    return os.environ.get(QUEUE_JOB_ENV) or None


def take_launch_log() -> Path | None:
    """The launch log a detached trainer's output goes to, taken out of the environment so
    that processes this one starts do not claim it too."""
    path = os.environ.pop(LOG_FILE_ENV, None)
    return Path(path) if path else None
