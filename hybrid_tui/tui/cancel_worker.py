"""Cancelling a run from a screen (the runs table's x, Live's x): one thread worker, so the runs
table and the live view report a cancel the same way."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_tui.jobs import cancel


def cancel_in_background(screen, run_id: str, then: Callable[[], None] | None = None) -> None:
    """Ask `run_id`'s trainer to stop (it checkpoints first, as `hybrid-tui cancel` does; through
    scancel for a queue job in Slurm) without blocking the screen; the outcome is a notification, then `then()` on the UI thread."""

    def cancel_now() -> None:
        from hybrid_tui.queue.daemon import cancel_in_slurm, slurm_job_of_run

        try:
            in_slurm = slurm_job_of_run(run_id)  # a queue job in Slurm: scancel, one SIGTERM
            stopped = cancel_in_slurm(in_slurm) is not None if in_slurm else cancel(run_id)
        except Exception as err:
            screen.app.show_error(err, "cancelling")
            return
        message = "trainer stopped" if stopped else "its trainer is not running on this machine"
        screen.app.call_from_thread(screen.notify, message, timeout=4)
        if then is not None:
            screen.app.call_from_thread(then)

    screen.run_worker(cancel_now, thread=True, group="cancel", exit_on_error=False)
