"""Options and defaults several CLI command groups share (the main app and `queue`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

DataDir = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help="Folder with the LAReQA data (xquad-r/, mlqa-dev-r/), or one of them. "
        "Default: $HYBRID_TUI_DATA; without it, the data is downloaded.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db).",
    ),
]


def resolve_data_root(data_dir: str | None) -> str | None:
    return data_dir or os.environ.get("HYBRID_TUI_DATA") or None


def resolve_tracking_uri(uri: str | None) -> str:
    from hybrid_tui.runs.files import DEFAULT_TRACKING_URI

    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
