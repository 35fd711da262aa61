"""The job queue: the store, the `--set` grid, the scheduler's rules (order, GPU slots, adoption
after a crash) with cheap stand-in trainers, then the real CLI end to end on the smoke recipe:
`queue add`, `queue start --slots 2` / `--gpus 0,1`, kill -9 of the scheduler, a failing job,
bad input, and `study --queue`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hybrid_tui import jobs
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.queue_store import JobStore
from hybrid_tui.paths import QUEUE_JOB_ENV
from hybrid_tui.queue.grid import expand_grid, split_values
from hybrid_tui.queue.scheduler import Scheduler, Slots
from hybrid_tui.queue.submit import queue_recipe_files
from hybrid_tui.runs.files import RunFiles
from tests.conftest import REPO
from tests.waiting import wait_for

SMOKE = str(REPO / "recipes" / "smoke.toml")
# Smoke jobs made cheaper for these tests: a few steps, a small evaluation.
QUICK = ("--set", "train.steps=3", "--set", "eval.max_questions=8")


# ---------------------------------------------------------------------------- grid


def test_commas_split_values_except_inside_brackets_and_quotes() -> None:
    assert split_values("0,1,2") == ["0", "1", "2"]
    assert split_values('["de","en"],["ar"]') == ['["de","en"]', '["ar"]']
    assert split_values('"a,b",c') == ['"a,b"', "c"]
    assert split_values("{from_step=1, mono=1.0},x") == ["{from_step=1, mono=1.0}", "x"]
    assert split_values("1e-5") == ["1e-5"]


def test_the_grid_is_the_cartesian_product_in_a_stable_order() -> None:
    grid = expand_grid(["train.seed=0,1,2", "train.lr=1e-5,3e-5"])
    assert len(grid) == 6
    assert grid[:3] == [
        ["train.seed=0", "train.lr=1e-5"],
        ["train.seed=0", "train.lr=3e-5"],
        ["train.seed=1", "train.lr=1e-5"],
    ]
    assert expand_grid([]) == [[]]
    with pytest.raises(HybridTuiError, match="empty value"):
        expand_grid(["train.seed=0,,1"])


# ---------------------------------------------------------------------------- store


def test_add_validates_every_combination_before_queueing_any(workdir: Path) -> None:
    store = JobStore()
    with pytest.raises(HybridTuiError, match="train.steps: Input should be greater than"):
        queue_recipe_files([SMOKE], ["train.seed=0,1", "train.steps=5,0"], store=store)
    with pytest.raises(HybridTuiError, match="unknown key 'lrr' in train"):
        queue_recipe_files([SMOKE], ["train.lrr=1,2"], store=store)
    assert store.jobs() == []
    assert not list((workdir / ".hybrid-tui").rglob("*.toml"))  # no copy left behind


def test_a_queued_job_keeps_its_own_copy_of_the_recipe(workdir: Path) -> None:
    from hybrid_tui.recipe import load_recipe

    recipe = workdir / "mine.toml"
    shutil.copy(SMOKE, recipe)
    (job,) = queue_recipe_files([str(recipe)], ["train.lr=1e-5"], store=JobStore())
    recipe.write_text(recipe.read_text().replace("steps = 20", "steps = 999"))
    queued = load_recipe(job.recipe_path)
    assert queued.train.steps == 20 and queued.train.lr == 1e-5
    assert queued.tracking.tags["hybrid_tui.overrides"] == "train.lr=1e-05"
    # the trainer may start elsewhere: the store is named absolutely
    assert queued.tracking.uri == f"sqlite:///{workdir / 'mlflow.db'}"
    assert job.overrides == ["train.lr=1e-5"] and job.workdir == str(workdir)


def test_a_queued_job_cannot_name_a_gpu_it_will_not_see(workdir: Path) -> None:
    with pytest.raises(HybridTuiError, match="train.device cuda:1 names a GPU"):
        queue_recipe_files([SMOKE], ["train.device=cuda:1"], store=JobStore())
    assert queue_recipe_files([SMOKE], ["train.device=cuda:1"], gpus=2, store=JobStore())


def test_order_priority_then_age_and_moving_jobs(workdir: Path) -> None:
    store = JobStore()
    jobs_ = queue_recipe_files([SMOKE], ["train.seed=0,1,2"], store=store)
    (urgent,) = queue_recipe_files([SMOKE], ["train.seed=9"], priority=5, store=store)
    order = [job.id for job in store.queued()]
    assert order == [urgent.id, *(job.id for job in jobs_)]
    assert store.move(jobs_[2].id, -1)  # seed 2 before seed 1
    assert [job.id for job in store.queued()] == [urgent.id, jobs_[0].id, jobs_[2].id, jobs_[1].id]
    assert store.move(jobs_[0].id, -1)  # above the urgent one: it takes its priority
    assert [job.id for job in store.queued()][:2] == [jobs_[0].id, urgent.id]
    assert store.get(str(jobs_[0].id)).priority == 5
    assert not store.move(jobs_[0].id, -1)  # already first


def test_remove_checks_every_reference_first(workdir: Path) -> None:
    store = JobStore()
    first, second = queue_recipe_files([SMOKE], ["train.seed=0,1"], store=store)
    with pytest.raises(HybridTuiError, match="no queue job '99'"):
        store.remove([str(first.id), "99"])
    assert [job.state for job in store.jobs()] == ["queued", "queued"]
    store.claim(second.id, "cpu0", "", "tok", "")
    with pytest.raises(HybridTuiError, match=f"job {second.id} is running"):
        store.remove([str(first.id), str(second.id)])
    store.remove([str(first.id)])
    assert [job.state for job in store.jobs()] == ["removed", "running"]


# ---------------------------------------------------------------------------- scheduler rules

# A stand-in trainer: records the environment it got, announces a run id, and ends that run
# FINISHED (its end event) when the test creates its `release` file.
_STAND_IN = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    token, out, run_root = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    (out / f"{token}.tmp").write_text(json.dumps(dict(os.environ)))
    os.replace(out / f"{token}.tmp", out / f"{token}.env")
    Path(os.environ["ANNOUNCE"]).write_text(f"run-{token}")
    while not (out / f"{token}.release").exists():
        time.sleep(0.02)
    events = run_root / f"run-{token}" / "events.jsonl"
    events.parent.mkdir(parents=True, exist_ok=True)
    events.write_text(json.dumps({"t": time.time(), "type": "end", "status": "FINISHED"}) + "\\n")
    """
)


class StandIns:
    """`spawn` for the scheduler: cheap processes instead of trainers."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.calls: list[dict] = []

    def __call__(self, request):
        token, env, nproc = request.token, request.env, request.nproc
        announce, log_path = jobs.launch_files(token)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        run_root = RunFiles.for_run("x").root.parent
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", _STAND_IN, token, str(self.folder), str(run_root)],
                env={**os.environ, **env, "ANNOUNCE": str(announce)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.calls.append({"token": token, "nproc": nproc, "env": env, "process": process})
        return jobs.Spawned(process, token, announce, log_path)

    def seen_env(self, token: str) -> dict:
        path = self.folder / f"{token}.env"
        wait_for(path.exists, "the stand-in to start", timeout=20, every=0.02)
        return json.loads(path.read_text())

    def release(self, call: dict) -> None:
        (self.folder / f"{call['token']}.release").touch()
        call["process"].wait(20)

    def stop_all(self) -> None:
        for call in self.calls:
            if call["process"].poll() is None:
                call["process"].kill()
                call["process"].wait(5)


@pytest.fixture
def stand_ins(workdir: Path):
    """Stand-in trainers; any still running when the test ends are killed."""
    made = StandIns(workdir)
    yield made
    made.stop_all()


def test_gpus_are_handed_out_one_job_each_in_queue_order(workdir: Path, stand_ins) -> None:
    store = JobStore()
    one, two, three = queue_recipe_files([SMOKE], ["train.seed=0,1,2"], store=store)
    store.move(three.id, -1)
    (wide,) = queue_recipe_files([SMOKE], ["train.seed=7"], gpus=2, store=store)
    (huge,) = queue_recipe_files([SMOKE], ["train.seed=8"], gpus=3, store=store)
    scheduler = Scheduler(store, Slots.for_gpus([0, 1]), spawn=stand_ins)

    scheduler.step()
    assert store.get(str(huge.id)).state == "failed"
    assert "wants 3 GPUs; this scheduler has 2" in store.get(str(huge.id)).error
    first, second = stand_ins.calls
    got = {stand_ins.seen_env(c["token"])["CUDA_VISIBLE_DEVICES"] for c in (first, second)}
    assert got == {"0", "1"}  # one job per GPU, no overlap
    assert [store.get(str(j.id)).state for j in (one, three, two)] == ["running"] * 2 + ["queued"]
    assert stand_ins.seen_env(first["token"])[QUEUE_JOB_ENV] == f"{one.id}:{first['token']}"

    stand_ins.release(first)
    scheduler.step()
    assert store.get(str(one.id)).state == "finished"
    assert store.get(str(one.id)).run_id == f"run-{first['token']}"
    third = stand_ins.calls[2]  # job `two` gets the GPU job `one` gave back
    assert (
        stand_ins.seen_env(third["token"])["CUDA_VISIBLE_DEVICES"]
        == first["env"]["CUDA_VISIBLE_DEVICES"]
    )
    assert len(stand_ins.calls) == 3  # the 2-GPU job waits for both

    for call in (second, third):
        stand_ins.release(call)
    scheduler.step()
    wide_call = stand_ins.calls[3]
    assert wide_call["nproc"] == 2  # torchrun, one rank per GPU
    assert stand_ins.seen_env(wide_call["token"])["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert store.get(str(wide.id)).devices == "0,1"
    stand_ins.release(wide_call)
    scheduler.step()
    assert {job.state for job in store.jobs()} == {"finished", "failed"}


def test_cpu_slots_hide_the_gpus(workdir: Path, stand_ins) -> None:
    store = JobStore()
    queue_recipe_files([SMOKE], ["train.seed=0,1,2"], store=store)
    Scheduler(store, Slots.for_cpu(2), spawn=stand_ins).step()
    assert len(stand_ins.calls) == 2
    for call in stand_ins.calls:
        assert stand_ins.seen_env(call["token"])["CUDA_VISIBLE_DEVICES"] == ""
        stand_ins.release(call)
    assert sorted(job.devices for job in store.jobs(["running"])) == ["cpu0", "cpu1"]


def test_a_restarted_scheduler_adopts_requeues_and_never_starts_twice(
    workdir: Path, stand_ins
) -> None:
    store = JobStore()
    spawned, never, live = queue_recipe_files([SMOKE], ["train.seed=0,1,2"], store=store)
    # A scheduler killed after claiming `spawned` and spawning its trainer, before the pid;
    # one killed after claiming `never`, before spawning; `live` was fully started.
    store.claim(spawned.id, "cpu0", "", "tok-a", str(jobs.launch_files("tok-a")[1]))
    orphan = stand_ins(
        jobs.TrainerStart(
            "",
            env={"CUDA_VISIBLE_DEVICES": "", QUEUE_JOB_ENV: f"{spawned.id}:tok-a"},
            token="tok-a",
        )
    )
    store.claim(never.id, "cpu1", "", "tok-b", str(jobs.launch_files("tok-b")[1]))
    store.claim(live.id, "cpu2", "", "tok-c", str(jobs.launch_files("tok-c")[1]))
    started = stand_ins(
        jobs.TrainerStart(
            "", env={"CUDA_VISIBLE_DEVICES": "", QUEUE_JOB_ENV: f"{live.id}:tok-c"}, token="tok-c"
        )
    )
    from hybrid_tui.runs.files import process_start_ticks

    store.set_process(live.id, started.process.pid, process_start_ticks(started.process.pid))
    stand_ins.seen_env("tok-a")
    stand_ins.seen_env("tok-c")
    before = len(stand_ins.calls)

    restarted = Scheduler(store, Slots.for_cpu(3), spawn=stand_ins)
    restarted.reconcile()
    assert store.get(str(spawned.id)).pid == orphan.process.pid  # found by its token: adopted
    assert store.get(str(never.id)).state == "queued"  # no trainer ever ran: queued again
    assert store.get(str(live.id)).state == "running"
    restarted.step()
    assert len(stand_ins.calls) == before + 1  # only `never` starts; nothing runs twice
    assert stand_ins.calls[-1]["env"][QUEUE_JOB_ENV].startswith(f"{never.id}:")
    for call in stand_ins.calls:
        stand_ins.release(call)
    restarted.step()
    assert [job.state for job in store.jobs()] == ["finished"] * 3


def test_a_trainer_that_exits_before_its_run_fails_the_job_with_its_error(workdir: Path) -> None:
    store = JobStore()
    (job,) = queue_recipe_files([SMOKE], store=store)
    _, log_path = jobs.launch_files("tok")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("loading\nerror: data file de.json is truncated\n")
    store.claim(job.id, "cpu0", "", "tok", str(log_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.set_process(job.id, dead.pid, None)
    Scheduler(store).reconcile()
    ended = store.get(str(job.id))
    assert ended.state == "failed" and ended.error == "data file de.json is truncated"


# ---------------------------------------------------------------------------- the real CLI


def one_error_line(done) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture
def queue_cli(run_cli):
    """`run_cli`, and at the end no scheduler or trainer is left running."""
    yield run_cli
    run_cli("queue", "stop", "--cancel-running", timeout=120)


def ls_json(run_cli) -> dict:
    return json.loads(run_cli("queue", "ls", "--json", check_code=0).stdout)


def scheduler_pid() -> int | None:
    from hybrid_tui.queue.daemon import running_scheduler

    info = running_scheduler()
    return info.pid if info else None


def wait_until_ended(store: JobStore, count: int, timeout: float = 300.0) -> list:
    def ended() -> bool:
        return sum(job.state in ("finished", "failed", "killed") for job in store.jobs()) >= count

    wait_for(ended, f"{count} jobs to end", timeout=timeout, every=0.5)
    return store.jobs()


def trainer_interval(run_id: str) -> tuple[float, float]:
    """When the trainer says its run started and ended (its event file)."""
    events = [json.loads(line) for line in RunFiles.for_run(run_id).events.read_text().splitlines()]
    return events[0]["t"], next(e["t"] for e in events if e["type"] == "end")


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in points:
        running += change
        peak = max(peak, running)
    return peak


def test_bad_input_is_one_line_and_queues_nothing(queue_cli, workdir: Path) -> None:
    run = queue_cli
    assert "unknown key 'lrr' in train" in one_error_line(
        run("queue", "add", SMOKE, "--set", "train.lrr=1e-5")
    )
    assert "train.steps: Input should be a valid integer" in one_error_line(
        run("queue", "add", SMOKE, "--set", "train.seed=0,1", "--set", "train.steps=5,many")
    )
    assert "not found" in one_error_line(run("queue", "add", SMOKE, "nope.toml"))
    assert "--gpus 0" in one_error_line(run("queue", "add", SMOKE, "--gpus", "0"))
    assert ls_json(run)["jobs"] == []
    assert "no queue job '7'" in one_error_line(run("queue", "rm", "7"))
    assert "no queue job 'abc123'" in one_error_line(run("queue", "logs", "abc123"))
    assert "--gpus 'a,b'" in one_error_line(run("queue", "start", "--gpus", "a,b"))
    assert "not both" in one_error_line(run("queue", "start", "--gpus", "0", "--slots", "2"))
    assert "no queue scheduler runs" in one_error_line(run("queue", "stop"))

    run("queue", "start", "--slots", "1", check_code=0)
    pid = scheduler_pid()
    assert pid is not None
    assert f"already runs for {workdir / '.hybrid-tui'} (pid {pid}" in one_error_line(
        run("queue", "start", "--slots", "2")
    )
    assert scheduler_pid() == pid
    assert run("queue", "stop", check_code=0).stdout.startswith(
        f"stopped the scheduler (pid {pid})"
    )
    assert scheduler_pid() is None


@pytest.mark.slow
def test_slots_run_two_at_once_in_priority_order(queue_cli, data_root: Path) -> None:
    """Must show: `queue add smoke --set train.seed=0,1,2` + `queue start --slots 2` -> three
    FINISHED runs (seeds 0, 1, 2), at most two at once; plus a fourth with a higher priority."""
    run, store = queue_cli, JobStore()
    data = ("--data-dir", str(data_root))
    added = run("queue", "add", SMOKE, "--set", "train.seed=0,1,2", *QUICK, *data, check_code=0)
    assert added.stdout.split() == ["1", "2", "3"]
    run("queue", "add", SMOKE, "--set", "train.seed=3", *QUICK, "--priority", "5", *data)
    assert [job["state"] for job in ls_json(run)["jobs"]] == ["queued"] * 4
    run("queue", "start", "--slots", "2", check_code=0)
    ended = wait_until_ended(store, 4)

    listed = ls_json(run)["jobs"]
    assert [job["state"] for job in listed] == ["finished"] * 4
    assert all(job["run_id"] for job in listed)
    by_start = sorted(ended, key=lambda job: job.started)
    assert [job.id for job in by_start] == [4, 1, 2, 3]  # priority 5 first, then oldest
    assert most_at_once([(job.started, job.ended) for job in ended]) <= 2
    assert most_at_once([trainer_interval(job.run_id) for job in ended]) <= 2

    from hybrid_tui.tracking import Tracker

    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"])
    details = [tracker.get_run(job["run_id"]) for job in listed]
    assert [d.params["train.seed"] for d in details] == ["0", "1", "2", "3"]
    assert all(d.status == "FINISHED" and d.params["train.steps"] == "3" for d in details)
    assert (
        details[0].tags["hybrid_tui.overrides"] == "train.seed=0 train.steps=3 eval.max_questions=8"
    )
    assert details[0].tags["hybrid_tui.queue_job"] == "1"
    log = run("queue", "logs", listed[0]["run_id"][:8], check_code=0).stdout
    assert f"run {listed[0]['run_id']} finished in" in log


@pytest.mark.slow
def test_gpu_list_gives_each_job_its_own_cuda_visible_devices(queue_cli, data_root) -> None:
    """`--gpus 0,1` on a CPU machine (the smoke recipe trains on the cpu): each trainer saw its
    own GPU list; a 2-GPU job runs under torchrun with both."""
    run, store = queue_cli, JobStore()
    data = ("--data-dir", str(data_root))
    run("queue", "add", SMOKE, "--set", "train.seed=0,1", *QUICK, *data, check_code=0)
    run("queue", "add", SMOKE, "--set", "train.seed=5", *QUICK, "--gpus", "2", *data)
    run("queue", "start", "--gpus", "0,1", check_code=0)
    ended = wait_until_ended(store, 3)
    assert [job.state for job in ended] == ["finished"] * 3, [job.error for job in ended]

    from hybrid_tui.tracking import Tracker

    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"])
    seen = {
        job.id: tracker.get_run(job.run_id).tags["hybrid_tui.cuda_visible_devices"] for job in ended
    }
    assert [seen[job.id] for job in ended] == [job.cuda_visible_devices for job in ended]
    assert {seen[1], seen[2]} == {"0", "1"} and seen[3] == "0,1"
    intervals = {job.id: trainer_interval(job.run_id) for job in ended}
    for a in ended:
        for b in ended:
            overlap = (
                intervals[a.id][0] < intervals[b.id][1] and intervals[b.id][0] < intervals[a.id][1]
            )
            if a.id < b.id and overlap:
                assert not set(seen[a.id].split(",")) & set(seen[b.id].split(","))
    assert ended[2].gpus == 2 and ended[2].devices == "0,1"  # the torchrun job: one run
    assert tracker.get_run(ended[2].run_id).params["train.seed"] == "5"


@pytest.mark.slow
def test_kill_9_of_the_scheduler_loses_no_job_and_runs_none_twice(
    queue_cli, workdir: Path, data_root: Path
) -> None:
    run, store = queue_cli, JobStore()
    data = ("--data-dir", str(data_root))
    run("queue", "add", SMOKE, "--set", "train.seed=0,1", *QUICK, *data, check_code=0)
    run("queue", "start", "--slots", "1", check_code=0)
    wait_for(lambda: store.get("1").run_id, "the first job's run", timeout=120)
    os.kill(scheduler_pid(), signal.SIGKILL)
    wait_for(lambda: scheduler_pid() is None, "the lock to be released", timeout=10, every=0.05)
    first = store.get("1")
    assert first.state == "running" and jobs.is_alive(
        jobs.Job("", first.pid, first.start_ticks, Path())
    )
    assert store.get("2").state == "queued"
    run("queue", "start", "--slots", "1", check_code=0)  # adopts job 1, then runs job 2
    ended = wait_until_ended(store, 2)
    assert [job.state for job in ended] == ["finished"] * 2
    assert ended[0].pid == first.pid  # the same trainer, adopted
    from tests.conftest import tracked_runs

    runs = tracked_runs(workdir)
    assert sorted(r.run_id for r in runs) == sorted(job.run_id for job in ended)  # 2 runs, no more
    assert all(r.status == "FINISHED" for r in runs)


@pytest.mark.slow
def test_a_failing_job_is_failed_with_its_log_and_the_queue_goes_on(
    queue_cli, workdir: Path, data_root: Path
) -> None:
    run, store = queue_cli, JobStore()
    broken = workdir / "data"
    shutil.copytree(data_root, broken)
    run("queue", "add", SMOKE, *QUICK, "--priority", "1", "--data-dir", str(broken), check_code=0)
    run("queue", "add", SMOKE, *QUICK, "--data-dir", str(data_root), check_code=0)
    de = broken / "mlqa-dev-r" / "de.json"  # the data goes bad after the job was queued
    de.write_text(de.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    run("queue", "start", "--slots", "1", check_code=0)
    bad, good = wait_until_ended(store, 2)
    assert bad.state == "failed" and "de.json" in bad.error and bad.run_id is None
    assert "de.json" in run("queue", "logs", "1", check_code=0).stdout
    assert good.state == "finished" and good.started >= bad.ended - 1


@pytest.mark.slow
def test_stop_with_cancel_running_ends_the_trainer_killed(queue_cli, data_root: Path) -> None:
    run, store = queue_cli, JobStore()
    run("queue", "add", SMOKE, "--set", "train.steps=400", "--data-dir", str(data_root))
    run("queue", "add", SMOKE, *QUICK, "--data-dir", str(data_root), check_code=0)
    run("queue", "start", "--slots", "1", check_code=0)

    def stepping() -> bool:
        events = RunFiles.for_run(store.get("1").run_id or "-").events
        return events.exists() and '"type": "step"' in events.read_text()

    wait_for(stepping, "the first job's steps", timeout=120)
    follower = subprocess.Popen(
        [sys.executable, "-m", "hybrid_tui", "queue", "logs", "-f", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    stopped = run("queue", "stop", "--cancel-running", check_code=0).stdout
    assert "stopped the scheduler" in stopped and "cancelled job 1" in stopped
    first, second = store.jobs()
    assert first.state == "killed" and second.state == "queued"  # nothing more started
    from hybrid_tui.tracking import Tracker

    assert Tracker(os.environ["MLFLOW_TRACKING_URI"]).get_run(first.run_id).status == "KILLED"
    followed, _ = follower.communicate(timeout=30)  # `logs -f` ends with the job
    assert "ended KILLED" in followed


def test_study_queue_adds_the_missing_runs_as_jobs(run_cli, workdir: Path, data_root) -> None:
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"])
    for method in ("untrained", "mono"):  # already done: not queued again
        run_id = tracker.start_run(
            "study-t",
            f"t-{method}-s0",
            {"hybrid_tui.study": "t", "hybrid_tui.study_method": method,
             "hybrid_tui.study_seed": "0", "hybrid_tui.study_alpha": "1"},
        )  # fmt: skip
        tracker.end_run(run_id, "FINISHED")
    args = ("study", "--name", "t", "--recipe", SMOKE, "--seeds", "1", "--alphas", "0.25")
    args += ("--data-dir", str(data_root), "--queue")
    first = run_cli(*args, check_code=0)
    assert "2 runs already finished, 0 already queued or running, 3 to queue" in first.stdout
    assert "--summary-only" in first.stderr
    jobs_ = JobStore().jobs()
    assert [job.name for job in jobs_] == ["t-cross-s0", "t-hybrid-s0", "t-alpha=0.25-s0"]
    assert {job.tags["hybrid_tui.study"] for job in jobs_} == {"t"}
    assert first.stdout.split()[-3:] == [str(job.id) for job in jobs_]
    from hybrid_tui.recipe import load_recipe

    sweep = load_recipe(jobs_[2].recipe_path)
    assert sweep.sampler.mono == 0.25 and sweep.tracking.experiment == "study-t"
    again = run_cli(*args, check_code=0)
    assert "3 already queued or running, 0 to queue" in again.stdout
    assert len(JobStore().jobs()) == 3


def test_a_direct_launch_onto_a_busy_device_warns(run_cli, workdir: Path) -> None:
    """Two runs on one device at once: the CLI says so (the app asks, see test_tui)."""
    from hybrid_tui.runs.files import process_start_ticks

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        files = RunFiles.for_run("e" * 32)
        files.root.mkdir(parents=True)
        record = {"pid": sleeper.pid, "start_ticks": process_start_ticks(sleeper.pid)}
        files.job.write_text(json.dumps({**record, "name": "busy", "device": "cpu"}))
        done = run_cli("train", SMOKE, "--data-dir", str(workdir / "nowhere"))
        assert done.returncode == 2
        warning, error = done.stderr.strip().splitlines()
        assert warning.startswith("warning: already training there: run eeeeeeee (busy) on the CPU")
        assert error.startswith("error: ") and "nowhere" in error
    finally:
        sleeper.kill()
        sleeper.wait()
    quiet = run_cli("train", SMOKE, "--data-dir", str(workdir / "nowhere"))
    assert quiet.stderr.strip().splitlines()[0].startswith("error: ")  # free again: no warning
