"""`hybrid-tui ui`: the real MLflow UI on the same store, bound to 127.0.0.1 unless asked."""

from __future__ import annotations

import os
import subprocess
import sys


def serve_mlflow_ui(uri: str, host: str, port: int) -> None:
    """Run `mlflow ui` in the foreground: one worker, no job runner (2 processes, ~0.5 GB)."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: the MLflow UI will listen on {host}, reachable from other machines",
            file=sys.stderr,
        )
    print(f"MLflow UI on http://{host}:{port} (store {uri}); Ctrl-C stops it", file=sys.stderr)
    try:
        subprocess.run(command, env=env, check=False)
    except KeyboardInterrupt:
        pass
