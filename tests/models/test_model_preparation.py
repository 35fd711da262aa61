"""Two processes that need one packaged model on a fresh cache build it once: the second waits
for the first and uses its folder (a queue's two trainers, or two test workers, start together)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest


def test_a_second_preparer_waits_for_the_first_and_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filelock import FileLock

    from hybrid_tui.models import PACKAGED_MODELS, resolve_model
    from hybrid_tui.models.packaged import prepare_packaged

    monkeypatch.setenv("HYBRID_TUI_CACHE", str(tmp_path))
    folder = tmp_path / "models" / "tiny-random"
    folder.parent.mkdir(parents=True)
    calls: list[tuple[str, int, int]] = []
    resolved = []

    def second_process() -> None:
        resolved.append(resolve_model("tiny-random", progress=lambda *call: calls.append(call)))

    with FileLock(f"{folder}.lock"):  # the first process is preparing it
        waiter = threading.Thread(target=second_process, daemon=True)
        waiter.start()
        deadline = time.monotonic() + 120
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls == [("tiny-random (waiting: another process is preparing it)", 0, 1)]
        assert not folder.exists()
        prepare_packaged(PACKAGED_MODELS["tiny-random"], folder, None)  # the first one's build
    waiter.join(120)
    assert [r.path for r in resolved] == [folder]
    assert calls == [("tiny-random (waiting: another process is preparing it)", 0, 1)]
