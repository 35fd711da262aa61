"""What a hostile or careless input does (issue 20): a data file with a line nested 100,000 deep,
a byte that is not UTF-8, a line that is a list; a full disk under a running trainer; the modes
of the saved weights; the message for an unknown hub model; the user a run is recorded under.

Each data-file error is one line naming `file:line`; from the CLI, exit 2, no traceback, nothing
half-written.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import DataConfig
from tests.conftest import nothing_half_written, one_error_line, one_line, tracked_runs

DEEP = "[" * 100_000


def _pair(qid: int, lang: str = "en") -> str:
    return json.dumps({"id": qid, "lang": lang, "query": f"question {qid}", "passage": f"p {qid}"})


def _pairs_file(path: Path, third_line: str | bytes) -> Path:
    """Five good pairs with `third_line` in place of the third."""
    lines = [_pair(i).encode() for i in range(5)]
    lines[2] = third_line if isinstance(third_line, bytes) else third_line.encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


BAD_LINES = {
    "nested-100000-deep": (DEEP, "nested too deeply"),
    "not-utf8": (b'{"id": 2, "lang": "en", "query": "caf\xe9", "passage": "p"}', "not UTF-8"),
    "a-list": ('[2, "en", "q", "p"]', "expected an object with id, lang, query, passage"),
}


# ---------------------------------------------------------------- item 8: the readers, in-process


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_of_a_jsonl_pairs_file_names_file_and_line(case: str, tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs

    line, expected = BAD_LINES[case]
    path = _pairs_file(tmp_path / "pairs.jsonl", line)
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(DataConfig(source="jsonl", dataset=str(path)), None)
    one_line(err, f"{path}:3:", expected)


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_of_a_miracl_corpus_shard_names_file_and_line(case: str, tmp_path: Path) -> None:
    from hybrid_tui.data.miracl import load_miracl
    from tests.evaluation.test_miracl import build_fixture

    build_fixture(tmp_path, langs=("sw",))
    shard = tmp_path / "miracl-corpus" / "miracl-corpus-v1.0-sw" / "docs-0.jsonl.gz"
    lines = gzip.decompress(shard.read_bytes()).split(b"\n")
    line, expected = BAD_LINES[case]
    lines[2] = line if isinstance(line, bytes) else line.encode()
    shard.write_bytes(gzip.compress(b"\n".join(lines)))
    with pytest.raises(HybridTuiError) as err:
        load_miracl(tmp_path, ["sw"])
    one_line(err, f"{shard}:3:", "expected a JSON object" if case == "a-list" else expected)


def test_a_byte_that_is_not_utf8_in_miracl_topics_names_file_and_line(tmp_path: Path) -> None:
    from hybrid_tui.data.miracl import load_miracl
    from tests.evaluation.test_miracl import build_fixture

    build_fixture(tmp_path, langs=("sw",))
    topics = tmp_path / "miracl" / "miracl-v1.0-sw" / "topics" / "topics.miracl-v1.0-sw-dev.tsv"
    lines = topics.read_bytes().split(b"\n")
    lines[2] = b"sw2\tcaf\xe9"
    topics.write_bytes(b"\n".join(lines))
    with pytest.raises(HybridTuiError) as err:
        load_miracl(tmp_path, ["sw"])
    one_line(err, f"{topics}:3:", "not UTF-8")


def test_a_byte_that_is_not_utf8_in_mmarco_names_file_and_line(tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs
    from tests.data.test_mmarco import _copy

    copy = _copy(tmp_path / "mmarco")
    collection = copy / "data" / "google" / "collections" / "german_collection.tsv"
    lines = collection.read_bytes().split(b"\n")
    lines[2] = b"5\tStra\xdfe"
    collection.write_bytes(b"\n".join(lines))
    config = DataConfig(source="mmarco", dataset=str(copy), languages=["en", "de"], max_items=5)
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(config, None)
    one_line(err, f"{collection}:3:", "not UTF-8")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"version": "1.1",\n "x": 1,\n "data": "caf\xe9"}', ":3: not UTF-8"),
        (b'{"data": ' + DEEP.encode() + b"}", "nested too deeply"),
    ],
    ids=["not-utf8-on-line-3", "nested-100000-deep"],
)
def test_a_hostile_lareqa_file_is_one_line(content: bytes, expected: str, tmp_path: Path) -> None:
    from hybrid_tui.data.lareqa import load_retrieval_set

    path = tmp_path / "mini" / "en.json"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(HybridTuiError) as err:
        load_retrieval_set(str(path.parent))
    one_line(err, str(path), expected)


# ---------------------------------------------------------------- item 8: through the CLI


def test_mine_on_a_line_nested_100000_deep_is_one_line_and_writes_nothing(
    run_cli, workdir: Path
) -> None:
    data = _pairs_file(workdir / "pairs.jsonl", DEEP)
    output = workdir / "mined.jsonl"
    done = run_cli("mine", str(data), "--output", str(output), "--model", "tiny-random")
    line = one_error_line(done)
    assert f"{data}:3:" in line and "nested too deeply" in line
    assert not output.exists()
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".mined")] == []


def test_training_on_a_line_nested_100000_deep_is_one_line_and_leaves_no_run(
    run_cli, workdir: Path
) -> None:
    data = _pairs_file(workdir / "pairs.jsonl", DEEP)
    recipe = workdir / "recipe.toml"
    recipe.write_text(
        'name = "deep"\n[model]\nspec = "tiny-random"\n'
        f'[data]\nsource = "jsonl"\ndataset = "{data}"\n'
        '[train]\nbatch_size = 2\nsteps = 2\ndevice = "cpu"\n[eval]\ndatasets = []\n',
        encoding="utf-8",
    )
    line = one_error_line(run_cli("train", str(recipe)))
    assert f"{data}:3:" in line and "nested too deeply" in line
    assert not (workdir / "mlflow.db").exists() or tracked_runs(workdir) == []
    nothing_half_written(workdir)


# ---------------------------------------------------------------- item 11: modes of saved weights

_SAVE_UNDER_UMASK_022 = """
import json, os, sys
from pathlib import Path

os.umask(0o022)
from hybrid_tui.models.encoder import BiEncoder
from hybrid_tui.recipe import ModelConfig
from hybrid_tui.training.checkpoint import save_checkpoint
import torch

run = Path(sys.argv[1])
encoder = BiEncoder.load(ModelConfig(spec="tiny-random"))
optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
save_checkpoint(run / "checkpoint", encoder, optimizer, scheduler, 1, {})
encoder.save(run / "model")
with open(run / "plain.txt", "w") as handle:
    handle.write("made by open()")
print(json.dumps({str(p.relative_to(run)): p.stat().st_mode & 0o777 for p in run.rglob("*")}))
"""


def test_saved_weights_get_the_mode_of_a_plain_file_under_the_umask(tmp_path: Path) -> None:
    """Under umask 022 a colleague on the box can read the model: model/model.safetensors and
    checkpoint/model.safetensors are 0644 like a file made by `open()` (safetensors made 0600)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-c", _SAVE_UNDER_UMASK_022, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    modes = json.loads(done.stdout.strip().splitlines()[-1])
    plain = modes.pop("plain.txt")
    assert plain == 0o644
    for name in ("model/model.safetensors", "checkpoint/model.safetensors"):
        assert oct(modes[name]) == oct(plain), name
    files = {name: mode for name, mode in modes.items() if (tmp_path / name).is_file()}
    assert {name: oct(mode) for name, mode in files.items() if mode != plain} == {}


# ---------------------------------------------------------------- an unknown hub model

HUB_REASONS = (
    "HF_HUB_OFFLINE is set and the model is not in the local cache",
    "the hub is unreachable and the model is not in the local cache",
    "no such model, or a private one: check the id, or `hf auth login`",  # where the hub answers
)


@pytest.mark.parametrize("offline", ["1", "0"], ids=["HF_HUB_OFFLINE", "the-real-failure"])
def test_an_unknown_hub_model_is_one_whole_sentence(
    offline: str, run_cli_process, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's own message ran to several sentences and was cut at 160 characters, mid-word
    ("To enable repo look-ups a)"); the line now says why in a whole clause. A process of its
    own: huggingface_hub reads HF_HUB_OFFLINE once, when it is first imported."""
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HOME", str(workdir / "hf-home"))  # nothing cached
    data = workdir / "pairs.jsonl"
    data.write_text("".join(_pair(i) + "\n" for i in range(4)), encoding="utf-8")
    model = "nobody-hybrid-tui/no-such-model"
    done = run_cli_process(
        "mine", str(data), "--output", str(workdir / "out.jsonl"), "--model", model
    )
    line = one_error_line(done)
    reason = line.split(f"could not get {model!r} from the Hugging Face hub (", 1)[1]
    reason = reason.split("); see `", 1)[0]  # then the `models list` hint
    expected = HUB_REASONS[:1] if offline == "1" else HUB_REASONS[1:]
    assert reason in expected, line
    assert line.endswith("or pass a local folder")


def test_a_quoted_library_message_is_its_first_whole_sentence() -> None:
    from hybrid_tui.errors import first_sentence

    hub = OSError(
        "Cannot find an appropriate cached snapshot folder for the specified revision on the "
        "local disk and outgoing traffic has been disabled. To enable repo look-ups and "
        "downloads online, set 'HF_HUB_OFFLINE=0' as environment variable."
    )
    assert first_sentence(hub) == (
        "Cannot find an appropriate cached snapshot folder for the specified revision on the "
        "local disk and outgoing traffic has been disabled"
    )
    long = first_sentence(ValueError("word " * 100), limit=42)
    assert long.endswith(" …") and len(long) <= 44 and "wor …" not in long
    assert first_sentence(KeyError()) == "KeyError"


# ---------------------------------------------------------------- the user a run is recorded under


def test_runs_are_the_os_users_on_both_ways_of_creating_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow showed "unknown" as every run's user: its client records `mlflow.user` only when
    given it. Both the MLflow path (a new experiment) and the direct sqlite path (the next run)
    now give it the login name, as MLflow's fluent `start_run` does."""
    import getpass

    from mlflow.tracking import MlflowClient

    from hybrid_tui.tracking import Tracker, sqlite_writes

    direct = []
    create_run = sqlite_writes.create_run
    monkeypatch.setattr(
        sqlite_writes, "create_run", lambda *args: direct.append(create_run(*args)) or direct[-1]
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    through_mlflow = tracker.start_run("users", "first")
    straight_to_sqlite = tracker.start_run("users", "second")
    assert direct == [None, straight_to_sqlite]  # the first went through MLflow's client
    client = MlflowClient(tracking_uri=uri)
    for run_id in (through_mlflow, straight_to_sqlite):
        run = client.get_run(run_id)
        assert run.info.user_id == getpass.getuser() != "unknown"
        assert run.data.tags["mlflow.user"] == getpass.getuser()


# ---------------------------------------------------------------- item 10: a full disk mid-run

_FILL_THE_DISK_UNDER_A_TRAINER = r"""
import json, os, sqlite3, subprocess, sys, time
from pathlib import Path

disk = Path(sys.argv[1])
disk.mkdir()
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], check=True)
os.chdir(disk)
env = os.environ | {
    "HYBRID_TUI_HOME": str(disk / ".hybrid-tui"),
    "MLFLOW_TRACKING_URI": f"sqlite:///{disk / 'mlflow.db'}",
}
Path("pairs.jsonl").write_text("".join(
    json.dumps({"id": i, "lang": "en", "query": f"q {i}", "passage": f"p {i}"}) + "\n"
    for i in range(12)
))
Path("recipe.toml").write_text(
    'name = "full-disk"\n[model]\nspec = "tiny-random"\nmax_query_length = 16\n'
    'max_passage_length = 16\n[sampler]\nmono = 1.0\ncross = 0.0\n[data]\nsource = "jsonl"\ndataset = "pairs.jsonl"\n'
    '[train]\nbatch_size = 4\nsteps = 100000\nlr = 1e-3\ndevice = "cpu"\nlog_every = 1\n'
    'checkpoint_every = 0\n[eval]\ndatasets = []\n[tracking]\nexperiment = "full-disk"\n'
)
cli = [sys.executable, "-m", "hybrid_tui"]
started = subprocess.run([*cli, "train", "recipe.toml", "--detach"], env=env,
                         capture_output=True, text=True)
assert started.returncode == 0, started.stderr
run_id = started.stdout.split()[0]
run = disk / ".hybrid-tui" / "runs" / run_id
pid = json.loads((run / "job.json").read_text())["pid"]
db = disk / "mlflow.db"

def logged_points():
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
        return con.execute("SELECT count(*) FROM metrics").fetchone()[0]

deadline = time.time() + 300
while logged_points() < 50 and time.time() < deadline:
    time.sleep(0.5)
# the disk fills up: first the files, then whatever room the store's write-ahead log had left
fd = os.open("filler", os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fd, b"x" * 65536)
except OSError:
    pass
try:
    while True:
        os.write(fd, b"x" * 512)
except OSError:
    os.close(fd)
with sqlite3.connect(db, timeout=30, isolation_level=None) as con:
    try:
        while True:
            con.execute("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                        (f"filler.{time.time_ns()}", "x" * 4000, run_id))
    except sqlite3.OperationalError as err:
        store_full = str(err)
deadline = time.time() + 300
while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
    time.sleep(0.2)
with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
    status = con.execute("SELECT status FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()[0]
log = (run / "trainer.log").read_text(errors="replace")
os.unlink("filler")
subprocess.run([*cli, "reconcile"], env=env, capture_output=True, text=True)
listed = subprocess.run([*cli, "runs", "--json"], env=env, capture_output=True, text=True)
after = {r["run_id"]: r["status"] for r in json.loads(listed.stdout or "[]")}.get(run_id)
print(json.dumps({"store_full": store_full, "status": status, "log": log, "after": after,
                  "runs_stderr": listed.stderr}))
"""


@pytest.mark.slow
def test_a_disk_that_fills_up_under_the_trainer_ends_its_run_with_one_last_line(
    tmp_path: Path,
) -> None:
    """A real full disk (a small tmpfs, mounted in a private mount namespace, holding the state
    dir AND the tracking store), filled while the trainer runs: the trainer's log ends with one
    line, the reason, and no traceback (MLflow's SQLAlchemy tracebacks included); the run is
    FAILED, or the line says it could not be marked, and then `hybrid-tui reconcile` marks it FAILED
    once there is space. Before: the trainer died with tracebacks and the run stayed RUNNING."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    unshare = shutil.which("unshare")
    probe = unshare and subprocess.run(
        [unshare, "-rm", "mount", "-t", "tmpfs", "tmpfs", str(tmp_path)], capture_output=True
    )
    if not probe or probe.returncode != 0:
        pytest.skip("no private mount namespace here (unshare -rm) to mount a small tmpfs in")
    done = subprocess.run(
        [unshare, "-rm", sys.executable, "-c", _FILL_THE_DISK_UNDER_A_TRAINER, str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert "database or disk is full" in outcome["store_full"]
    log = outcome["log"]
    assert "Traceback" not in log and "SQLAlchemy" not in log, log
    assert "\n(Background on this error" not in log, log  # each warning is one line too
    last = log.strip().splitlines()[-1]
    assert last.startswith("error: could not write "), log
    assert "No space left on device" in last or "database or disk is full" in last, last
    assert "free disk space, then start the run again" in last, last
    if outcome["status"] == "RUNNING":
        assert "the run could not be marked FAILED" in last and "reconcile`" in last, last
    else:
        assert outcome["status"] == "FAILED" and "could not be marked" not in last, last
    assert outcome["after"] == "FAILED", outcome["runs_stderr"]


def test_a_run_whose_store_cannot_be_written_is_reported_not_marked(tmp_path: Path) -> None:
    """`mark_failed` ends a run FAILED even with metric points it cannot write, and says False
    (never raises) when the store itself cannot be written, so the trainer's line can say so."""
    from hybrid_tui.tracking import Tracker

    db = tmp_path / "mlflow.db"
    tracker = Tracker(f"sqlite:///{db}")
    run_id = tracker.start_run("marks", "one")
    tracker.log_metrics(run_id, {"train/loss": 1.0}, 1)
    assert tracker.mark_failed(run_id) is True
    assert tracker.get_run(run_id).status == "FAILED"

    other = tracker.start_run("marks", "two")
    db.write_bytes(b"not a database any more " * 400)
    assert tracker.mark_failed(other) is False


def test_reconcile_marks_a_dead_trainers_run_even_where_its_error_artifact_cannot_be_written(
    run_cli, workdir: Path
) -> None:
    """The trainer's last line promises that `hybrid-tui reconcile` marks its run FAILED: it
    must not stop at the log-tail artifact, which a full disk (here: the artifact folder's place
    taken by a file, unwritable for root too) cannot take."""
    import shutil
    import subprocess

    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    run_id = tracker.start_run("dead", "trainer")
    gone = subprocess.Popen(["true"])
    gone.wait()
    files = RunFiles.for_run(run_id)
    files.root.mkdir(parents=True)
    files.job.write_text(json.dumps({"run_id": run_id, "pid": gone.pid, "log": str(files.log)}))
    files.log.write_text("error: could not write ... (No space left on device)\n")
    artifacts = workdir / "mlartifacts"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.write_text("a file where the artifact folder would go")
    done = run_cli("reconcile", "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert [run.status for run in tracked_runs(workdir)] == ["FAILED"]


def test_a_recipe_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    """tomllib recurses like json: 100,000 nested arrays were a RecursionError traceback."""
    from hybrid_tui.recipe import load_recipe

    recipe = tmp_path / "deep.toml"
    recipe.write_text("x = " + "[" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(HybridTuiError) as err:
        load_recipe(recipe)
    one_line(err, str(recipe), "too deeply")


def test_a_set_value_nested_too_deeply_is_read_as_text_and_refused_by_its_field() -> None:
    from hybrid_tui.recipe import parse_override

    assert parse_override("name=" + "[" * 100_000) == ("name", "[" * 100_000)


@pytest.mark.parametrize("content", [b"{not json", b"[" * 100_000, b"[1, 2]", b"\xff\xfe"])
def test_a_broken_conventions_file_of_a_model_folder_names_it(
    content: bytes, tmp_path: Path
) -> None:
    from hybrid_tui.models.conventions import folder_conventions

    pooling = tmp_path / "1_Pooling" / "config.json"
    pooling.parent.mkdir()
    pooling.write_bytes(content)
    with pytest.raises(HybridTuiError) as err:
        folder_conventions(tmp_path)
    one_line(err, str(pooling), "restore it")
