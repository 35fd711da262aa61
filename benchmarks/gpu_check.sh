#!/usr/bin/env bash
# One prepared GPU check (at most ~7.7 minutes on one GPU: 430 s of step limits), run from the
# repository root:
#
#   benchmarks/gpu_check.sh [RESULT_JSON]        (default: $OUT/gpu_check.json, else ./gpu_check.json)
#
# Steps, each under `timeout`, each one's exit code, seconds and log tail recorded even when it
# fails (a failed step never stops the next one):
#   1. environment      python, torch, CUDA device, flash-attn presence
#   2. padding_free     benchmarks/check_padding_free.py --device cuda: packed vs padded
#                       embeddings and InfoNCE gradients per attention kernel, fp32 and bf16
#   3. smoke            recipes/smoke.toml trained on cuda (a throwaway state dir and MLflow store)
#   4. throughput       benchmarks/bench_train_throughput.py --device cuda --precision bf16 --json
#                       (padding-free vs padded vs sentence-transformers, interleaved)
#   5. eval_quick       benchmarks/bench_eval.py --quick --device cuda --json
#   6. torchrun         the smoke recipe through a 1-process `torchrun` on cuda
# Environment: PYTHON (default .venv/bin/python, else python3: it needs a CUDA build of torch and
# the package's extras offline, test, bench), HYBRID_TUI_DATA (default ../shared/data/lareqa: the
# LAReQA folder must be on the GPU machine), HYBRID_TUI_CACHE (default .hybrid-tui/cache, as the
# benchmarks use; e5-small-offline is prepared into it on first use). Exit status 0 only when
# every step passed; the JSON is written either way.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
if [[ -n "${1:-}" ]]; then
    RESULT=$1
elif [[ -n "${OUT:-}" ]]; then
    RESULT=$OUT/gpu_check.json
else
    RESULT=$REPO/gpu_check.json
fi
mkdir -p "$(dirname "$RESULT")"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export HYBRID_TUI_DATA=${HYBRID_TUI_DATA:-$REPO/../shared/data/lareqa}
export HYBRID_TUI_CACHE=${HYBRID_TUI_CACHE:-$REPO/.hybrid-tui/cache}
export TOKENIZERS_PARALLELISM=false MLFLOW_ENABLE_TELEMETRY=false DO_NOT_TRACK=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
LOGS=$WORK/logs
mkdir -p "$LOGS"
: >"$LOGS/steps.tsv"

# the smoke recipe on cuda, in a state dir and tracking store of its own
sed -e 's/^device = "cpu"/device = "cuda"/' recipes/smoke.toml >"$WORK/smoke-cuda.toml"
grep -q '^device = "cuda"' "$WORK/smoke-cuda.toml"

run_step() { # name seconds command...: never fails, records "name rc seconds"
    local name=$1 limit=$2
    shift 2
    local start end rc=0
    start=$(date +%s.%N)
    timeout --kill-after=5 "$limit" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
    end=$(date +%s.%N)
    printf '%s\t%s\t%s\n' "$name" "$rc" "$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')" \
        >>"$LOGS/steps.tsv"
    echo "gpu_check: $name rc=$rc" >&2
}

# trainer runs keep their state dir and MLflow store under $WORK
state_env() { # name: the env assignments for a fresh state dir $WORK/name
    mkdir -p "$WORK/$1"
    echo "HYBRID_TUI_HOME=$WORK/$1/.hybrid-tui MLFLOW_TRACKING_URI=sqlite:///$WORK/$1/mlflow.db"
}

run_step environment 30 "$PYTHON" -c '
import json, os, torch
info = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
info["data"] = os.environ["HYBRID_TUI_DATA"]
info["data_found"] = os.path.isdir(os.path.join(info["data"], "mlqa-dev-r"))
if info["cuda"]:
    info["device"] = torch.cuda.get_device_name(0)
    info["bf16"] = torch.cuda.is_bf16_supported()
try:
    import flash_attn
    info["flash_attn"] = flash_attn.__version__
except ImportError:
    info["flash_attn"] = None
print(json.dumps(info))
'
run_step padding_free 60 "$PYTHON" benchmarks/check_padding_free.py --device cuda
# shellcheck disable=SC2046 # word splitting of the env assignments is wanted
run_step smoke 60 env $(state_env smoke) "$PYTHON" -m hybrid_tui train "$WORK/smoke-cuda.toml" \
    --data-dir "$HYBRID_TUI_DATA"
run_step throughput 130 "$PYTHON" benchmarks/bench_train_throughput.py --device cuda \
    --precision bf16 --rounds 6 --steps-per-round 5 --json
run_step eval_quick 90 "$PYTHON" benchmarks/bench_eval.py --quick --device cuda --json
# shellcheck disable=SC2046
run_step torchrun 60 env $(state_env torchrun) "$PYTHON" -m torch.distributed.run --standalone \
    --nproc_per_node 1 -m hybrid_tui train "$WORK/smoke-cuda.toml" --data-dir "$HYBRID_TUI_DATA"

# one JSON: per step its rc, seconds, the last JSON line it printed (if any) and its log tail
cat >"$WORK/summary.py" <<'PY'
import json
import subprocess
import sys
from pathlib import Path

logs, result = Path(sys.argv[1]), Path(sys.argv[2])
steps = {}
for line in (logs / "steps.tsv").read_text().splitlines():
    name, rc, seconds = line.split("\t")
    text = (logs / f"{name}.log").read_text(errors="replace")
    last_json = None
    for row in reversed(text.splitlines()):
        if row.startswith("{"):
            try:
                last_json = json.loads(row)
                break
            except ValueError:
                continue
    steps[name] = {
        "rc": int(rc),
        "seconds": float(seconds),
        "result": last_json,
        "log_tail": text[-3000:],
    }
try:
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    gpu = subprocess.run(query, capture_output=True, text=True, timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError):
    gpu = None
summary = {"ok": all(s["rc"] == 0 for s in steps.values()), "gpu": gpu, "steps": steps}
result.write_text(json.dumps(summary, indent=1))
print(f"gpu_check: wrote {result} (ok={summary['ok']})")
PY
summary_rc=0
"$PYTHON" "$WORK/summary.py" "$LOGS" "$RESULT" || python3 "$WORK/summary.py" "$LOGS" "$RESULT" ||
    summary_rc=$?
if [[ $summary_rc -ne 0 ]]; then
    printf '{"ok": false, "error": "the summary step failed", "steps_tsv": "%s"}\n' \
        "$(tr '\t\n' ' ;' <"$LOGS/steps.tsv")" >"$RESULT"
fi
cp -r "$LOGS" "$(dirname "$RESULT")/gpu_check_logs" 2>/dev/null || true
grep -q '"ok": true' "$RESULT" # the exit status: every step passed
