"""The trainer's event file: whole lines only, offsets kept across calls, nothing crashes a reader."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from hybrid_tui.events import EventTail, EventWriter


def test_written_events_are_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "abc" / "events.jsonl"  # parent folders are created
    writer = EventWriter(path)
    tail = EventTail(path)
    writer.write("start", run_id="abc", steps=3)
    writer.write("step", step=1, loss=0.5)
    events = tail.read_new()
    assert [e["type"] for e in events] == ["start", "step"]
    assert events[0]["run_id"] == "abc" and events[1]["loss"] == 0.5
    assert all(isinstance(e["t"], float) for e in events)
    assert tail.read_new() == []  # nothing new
    writer.write("step", step=2, loss=0.25)
    writer.write("end", status="FINISHED")
    assert [e.get("step") for e in tail.read_new()] == [2, None]
    writer.close()


def test_a_partial_last_line_waits_for_the_next_call(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    line = json.dumps({"t": 1.0, "type": "step", "step": 7}) + "\n"
    tail = EventTail(path)
    with open(path, "wb") as handle:
        handle.write(line.encode())
        handle.write(line[:10].encode())  # the writer is mid-line
        handle.flush()
        assert [e["step"] for e in tail.read_new()] == [7]
        assert tail.read_new() == []
        handle.write(line[10:].encode())
        handle.flush()
        assert [e["step"] for e in tail.read_new()] == [7]
        assert tail.offset == 2 * len(line)


def test_the_offset_counts_bytes_not_characters(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    tail = EventTail(path)
    writer.write("log", message="évaluation 日本語")
    assert tail.read_new()[0]["message"] == "évaluation 日本語"
    writer.write("log", message="next")
    assert [e["message"] for e in tail.read_new()] == ["next"]
    assert tail.offset == path.stat().st_size


def test_a_missing_file_reads_as_no_events_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "later" / "events.jsonl"
    tail = EventTail(path)
    assert tail.read_new() == []
    EventWriter(path).write("start", run_id="x")
    assert [e["type"] for e in tail.read_new()] == ["start"]


def test_corrupt_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'{"t": 1, "type": "step", "step": 1}\n'
        b"not json at all\n"
        b"\n"
        b"[1, 2]\n"
        b"\xff\xfe broken bytes\n"
        b'{"t": 2, "type": "step", "step": 2}\n'
    )
    assert [e["step"] for e in EventTail(path).read_new()] == [1, 2]


def test_a_file_that_shrank_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    writer.write("step", step=1)
    writer.write("step", step=2)
    tail = EventTail(path)
    assert len(tail.read_new()) == 2
    writer.close()
    path.write_text(json.dumps({"t": 3, "type": "start"}) + "\n")
    assert [e["type"] for e in tail.read_new()] == ["start"]


def test_numpy_values_nan_and_paths_are_written(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    EventWriter(path).write(
        "eval", step=np.int64(3), metrics={"a": np.float32(0.5)}, loss=math.nan, where=tmp_path
    )
    (event,) = EventTail(path).read_new()
    assert event["step"] == 3 and event["metrics"] == {"a": 0.5}
    assert math.isnan(event["loss"]) and event["where"] == str(tmp_path)


def test_devnull_is_a_valid_writer_path() -> None:
    writer = EventWriter(os.devnull)  # what non-main ranks write to
    writer.write("step", step=1, loss=0.1)
    writer.close()
