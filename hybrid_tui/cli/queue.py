"""`hybrid-tui queue ...`: the job queue's commands (thin; the work is in `hybrid_tui.queue`)."""

from __future__ import annotations

from typing import Annotated

import typer

from hybrid_tui.cli.options import DataDir, JsonFlag
from hybrid_tui.paths import resolve_data_root

queue_app = typer.Typer(
    help="A job queue: many runs on one box, one per GPU (or N at once on the CPU), "
    "highest priority first.",
    no_args_is_help=True,
)


CONFIG_ERROR = "hybrid_tui.queue_config_error"


@queue_app.callback()
def _queue(ctx: typer.Context) -> None:
    # `queue start`'s defaults from the config file, applied by click (a flag still wins); read
    # here, when the group runs, so the CLI's start does not read it
    if ctx.invoked_subcommand != "start":
        return
    from hybrid_tui.cli.queue_config import queue_start_defaults
    from hybrid_tui.errors import HybridTuiError
    from hybrid_tui.paths import config_path

    try:
        defaults = queue_start_defaults(config_path())
    except HybridTuiError as err:  # raised by `queue start` itself: `--help` still shows
        ctx.meta[CONFIG_ERROR] = err
        return
    if defaults:
        ctx.default_map = {**(ctx.default_map or {}), "start": defaults}


@queue_app.command("add")
def queue_add(
    recipes: Annotated[list[str], typer.Argument(help="Recipe TOML files.")],
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=V1,V2,...: one job per value (several --set: every combination). A comma "
            "inside [], {} or quotes does not split. Repeatable.",
        ),
    ] = None,
    gpus: Annotated[
        int,
        typer.Option(help="GPUs per job (N > 1: torchrun); CPU slots on a machine without GPU."),
    ] = 1,
    priority: Annotated[int, typer.Option(help="Higher starts first (then oldest).")] = 0,
    data_dir: DataDir = None,
) -> None:
    """Queue one job per recipe and --set combination; prints the job ids."""
    from hybrid_tui.cli.queue_output import print_added
    from hybrid_tui.queue.submit import queue_recipe_files

    print_added(
        queue_recipe_files(recipes, overrides or [], gpus, priority, resolve_data_root(data_dir))
    )


@queue_app.command("ls")
def queue_ls(json_output: JsonFlag = False) -> None:
    """Jobs with their state, GPUs, run id, wait and run time (and the scheduler's state)."""
    from hybrid_tui.cli.queue_output import print_jobs
    from hybrid_tui.jobs.queue_store import JobStore
    from hybrid_tui.queue.daemon import running_scheduler

    print_jobs(JobStore().jobs(), running_scheduler(), json_output)


@queue_app.command("rm")
def queue_rm(
    jobs: Annotated[list[str], typer.Argument(help="Job ids (or run ids).")],
) -> None:
    """Remove queued (or ended) jobs; a running one must be cancelled first (one in Slurm is
    cancelled with scancel: its trainer checkpoints and ends KILLED)."""
    from hybrid_tui.errors import HybridTuiError
    from hybrid_tui.jobs.queue_store import RUNNING, SLURM, JobStore
    from hybrid_tui.queue.daemon import cancel_in_slurm

    store = JobStore()
    try:
        removed = store.remove(jobs)  # all or none: a running job refuses them all
    except HybridTuiError:
        named = [store.get(ref) for ref in jobs]
        in_slurm = [job for job in named if job.state == RUNNING and job.backend == SLURM]
        if not in_slurm:
            raise
        rest = [ref for ref, job in zip(jobs, named, strict=True) if job not in in_slurm]
        removed = store.remove(rest) if rest else []  # a running local job still refuses all
        for job in in_slurm:
            ended = cancel_in_slurm(job)
            typer.echo(f"cancelled job {job.id} in Slurm ({job.slurm_id}); it is {ended.state}")
    for job in removed:
        typer.echo(f"removed job {job.id} ({job.state} before)")


@queue_app.command("logs")
def queue_logs(
    job: Annotated[str, typer.Argument(help="Job id or run id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
) -> None:
    """A job's trainer log (with -f: followed like tail -f until the job ends)."""
    from hybrid_tui.cli.queue_output import print_log
    from hybrid_tui.jobs.queue_store import JobStore

    print_log(JobStore(), job, follow)


GpuList = Annotated[
    str | None, typer.Option("--gpus", help="GPU indices to hand out, e.g. 0,1,2,3.")
]
SlotCount = Annotated[
    int | None, typer.Option("--slots", help="Without GPUs: run N jobs at once on the CPU.")
]


Backend = Annotated[
    str,
    typer.Option(help="local: this machine's GPUs or CPU slots; slurm: hand each job to sbatch."),
]
Partition = Annotated[str | None, typer.Option(help="Slurm: the partition (sbatch -p).")]
Account = Annotated[str | None, typer.Option(help="Slurm: the account to charge (sbatch -A).")]
TimeLimit = Annotated[
    str | None,
    typer.Option("--time", help="Slurm: each job's time limit, e.g. 4:00:00 (sbatch -t)."),
]
GpusPerJob = Annotated[
    int | None,
    typer.Option(help="Slurm: GPUs per node of each job (default: the job's --gpus; 0: CPU)."),
]
Nodes = Annotated[int, typer.Option(help="Slurm: nodes per job (> 1: torchrun across them).")]
SbatchArgs = Annotated[
    list[str] | None,
    typer.Option("--sbatch-arg", help="Slurm: another sbatch option, KEY=VALUE (mem=16G)."),
]
SignalGrace = Annotated[
    int,
    typer.Option(
        help="Slurm: seconds before the time limit the trainer is told to checkpoint and stop "
        "(it is then resubmitted from its checkpoint)."
    ),
]
SharedDir = Annotated[
    bool,
    typer.Option(
        help="Slurm: the state dir and a local tracking store (sqlite) are on a filesystem "
        "every node mounts."
    ),
]


def _slurm_options(
    backend: str,
    gpus: str | None,
    slots: int | None,
    partition: str | None,
    account: str | None,
    time: str | None,
    gpus_per_job: int | None,
    nodes: int,
    sbatch_arg: list[str] | None,
    signal_grace: int,
    shared_dir: bool,
):
    """The Slurm options of `queue start`/`serve`, or None for the local backend."""
    from hybrid_tui.errors import HybridTuiError
    from hybrid_tui.queue.slurm import SlurmOptions, parse_sbatch_args

    slurm_only = {
        "--partition": partition,
        "--account": account,
        "--time": time,
        "--gpus-per-job": gpus_per_job,
        "--sbatch-arg": sbatch_arg or None,
        "--nodes": nodes if nodes != 1 else None,
        "--shared-dir": shared_dir or None,
    }
    if backend == "local":
        given = [flag for flag, value in slurm_only.items() if value is not None]
        if given:
            raise HybridTuiError(f"{given[0]} is for --backend slurm; add it, or drop {given[0]}")
        return None
    if backend != "slurm":
        raise HybridTuiError(f"--backend {backend!r}: give local or slurm")
    if gpus is not None or slots is not None:
        raise HybridTuiError(
            "--gpus and --slots are the local backend's; on Slurm use --gpus-per-job"
        )
    if nodes < 1 or (gpus_per_job is not None and gpus_per_job < 0) or signal_grace < 0:
        raise HybridTuiError("--nodes takes 1 or more; --gpus-per-job and --signal-grace 0 or more")
    return SlurmOptions(
        partition=partition,
        account=account,
        time=time,
        gpus_per_job=gpus_per_job,
        nodes=nodes,
        sbatch_args=parse_sbatch_args(sbatch_arg or []),
        signal_grace_s=signal_grace,
        shared_dir=shared_dir,
    )


@queue_app.command("start")
def queue_start(
    ctx: typer.Context,
    gpus: GpuList = None,
    slots: SlotCount = None,
    backend: Backend = "local",
    partition: Partition = None,
    account: Account = None,
    time: TimeLimit = None,
    gpus_per_job: GpusPerJob = None,
    nodes: Nodes = 1,
    sbatch_arg: SbatchArgs = None,
    signal_grace: SignalGrace = 120,
    shared_dir: SharedDir = False,
) -> None:
    """Start the scheduler, detached (it outlives the terminal); one per state dir.

    Defaults come from the [queue] table of config.toml in the state dir (.hybrid-tui/, or
    $HYBRID_TUI_HOME), e.g. backend = "slurm", partition = "gpu", time = "4:00:00",
    sbatch_arg = ["mem=16G"]; a flag wins over the file.
    """
    from hybrid_tui.errors import HybridTuiError
    from hybrid_tui.queue.daemon import parse_slots, start_scheduler

    if CONFIG_ERROR in ctx.meta:
        raise ctx.meta[CONFIG_ERROR]
    options, from_file = _with_file_defaults(ctx)
    try:
        slurm = _slurm_options(**options)
        slot_choice = None if slurm is not None else parse_slots(options["gpus"], options["slots"])
        info = start_scheduler(slot_choice, slurm=slurm)
    except HybridTuiError as err:
        if not from_file:
            raise
        raise HybridTuiError(f"{err} ({from_file})") from err
    if from_file:
        typer.echo(from_file)
    typer.echo(f"scheduler started ({info.describe()}); log {info.log}")


def _with_file_defaults(ctx: typer.Context) -> tuple[dict, str]:
    """`queue start`'s options and a line naming the config file and the settings it gave (""
    when none). The file's keys of the backend not chosen fall back to their defaults, and so
    does its `gpus` or `slots` when the command line gives the other."""
    from hybrid_tui.cli.queue_config import LOCAL_ONLY
    from hybrid_tui.paths import config_path

    def source(name: str) -> str | None:
        return getattr(ctx.get_parameter_source(name), "name", None)

    options = dict(ctx.params)
    defaults = {param.name: param.default for param in ctx.command.params}
    typed = {name for name in options if source(name) == "COMMANDLINE"}
    used = []
    for name in options:
        if source(name) != "DEFAULT_MAP":
            continue
        other_backend = name != "backend" and (name in LOCAL_ONLY) != (
            options["backend"] == "local"
        )
        if other_backend or (name in LOCAL_ONLY and typed & set(LOCAL_ONLY)):
            options[name] = defaults[name]
        else:
            used.append(f"{name}={_as_toml(options[name])}")
    return options, f"defaults from {config_path()}: {', '.join(used)}" if used else ""


def _as_toml(value: object) -> str:
    """A setting as the config file spells it (`true`, `["mem=16G"]`); text as it is."""
    import json

    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value)


@queue_app.command("stop")
def queue_stop(
    cancel_running: Annotated[
        bool,
        typer.Option(help="Also cancel running trainers (they checkpoint and end KILLED)."),
    ] = False,
) -> None:
    """Stop the scheduler: nothing more starts; running trainers go on unless --cancel-running."""
    from hybrid_tui.queue.daemon import stop_scheduler

    for line in stop_scheduler(cancel_running):
        typer.echo(line)


@queue_app.command("serve", hidden=True)
def queue_serve(
    gpus: GpuList = None,
    slots: SlotCount = None,
    backend: Backend = "local",
    partition: Partition = None,
    account: Account = None,
    time: TimeLimit = None,
    gpus_per_job: GpusPerJob = None,
    nodes: Nodes = 1,
    sbatch_arg: SbatchArgs = None,
    signal_grace: SignalGrace = 120,
    shared_dir: SharedDir = False,
) -> None:
    """The scheduler process itself (what `queue start` runs detached)."""
    from hybrid_tui.queue.daemon import parse_slots, serve

    slurm = _slurm_options(
        backend, gpus, slots, partition, account, time, gpus_per_job, nodes, sbatch_arg,
        signal_grace, shared_dir,
    )  # fmt: skip
    code = serve(None if slurm is not None else parse_slots(gpus, slots), slurm)
    if code:
        raise typer.Exit(code)
