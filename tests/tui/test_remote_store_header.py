"""The app's header says when the runs come from a tracking server (`mlflow server`): every read
crosses the network there, so a slower list is expected, not a hang."""

from __future__ import annotations

import pytest

from hybrid_tui.tui.app import display_uri


@pytest.mark.parametrize(
    "uri", ["http://mlflow.lab:5000", "https://mlflow.example.org", "databricks"]
)
def test_a_tracking_server_is_called_a_remote_store(uri: str) -> None:
    assert display_uri(uri) == f"remote store {uri}"


def test_a_local_file_is_not_remote(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_uri(f"sqlite:///{tmp_path / 'mlflow.db'}") == "sqlite:///mlflow.db"
