"""Options and defaults several CLI command groups share (the main app and `queue`)."""

from __future__ import annotations

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
