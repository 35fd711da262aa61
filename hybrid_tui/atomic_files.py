"""Writes that never leave a half-written file or folder behind: temp file + fsync + rename."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# mkstemp/mkdtemp create owner-only entries; what the tool writes (reports, recipes, checkpoints)
# gets the modes a plain `open` would give, so colleagues on a shared box can read them.
_UMASK = _umask()
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder beside `path`; on success it replaces `path` whole, on error it is removed.

    Used for checkpoints and prepared models: a crash (or a full disk) mid-write leaves the previous
    complete folder in place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        staging.chmod(DIR_MODE)
        yield staging
        _give_plain_modes(staging)
        previous = None
        if target.exists():
            previous = target.with_name(f".{target.name}.old")
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(target, previous)
        os.replace(staging, target)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _give_plain_modes(folder: Path) -> None:
    """Every file and folder in `folder` gets the mode a plain `open`/`mkdir` gives: libraries
    that write through a temp file (safetensors' `save_file`) leave it owner-only."""
    for entry in folder.rglob("*"):
        if not entry.is_symlink():
            entry.chmod(DIR_MODE if entry.is_dir() else FILE_MODE)


@contextlib.contextmanager
def safetensors_write_errors_as_os_errors() -> Iterator[None]:
    """safetensors reports a failed write (full disk, file-size limit) as its own error type with
    "(os error N)" in the text; re-raise it as the OSError it is, so callers explain it in a line."""
    try:
        yield
    except Exception as err:
        code = re.search(r"os error (\d+)", str(err))
        if isinstance(err, OSError) or code is None:
            raise
        raise OSError(int(code[1]), os.strerror(int(code[1]))) from err


@contextlib.contextmanager
def exclusive(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the file lock `<path>.lock` (filelock) for building `path` once across processes;
    `on_wait()` is called first when another process holds it, so a progress line can say why
    this one waits."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{path}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
