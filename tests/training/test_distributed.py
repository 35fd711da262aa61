"""Multi-process training (torchrun) on CPU with gloo: the gathered in-batch loss gives every rank
the gradient of the whole global batch, and a 2-process job leaves one FINISHED run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.training.gloo_ranks import rank0_result

# Two gloo processes each encode half of a global batch of 8 pairs with a linear "encoder" (no
# dropout, so both ways compute the same function), take the InfoNCE loss over the gathered
# embeddings, back-propagate and all-reduce as the trainer does. Rank 0 prints the loss and the
# gradient; the parent compares them with one process over the whole batch.
_RANKS = textwrap.dedent(
    """
    import json, sys
    import torch, torch.distributed as dist, torch.multiprocessing as mp
    from hybrid_tui.training.loss import gather_with_grad, info_nce
    from hybrid_tui.training.distributed import all_reduce_gradients

    def encoder_and_batch():
        torch.manual_seed(0)
        model = torch.nn.Linear(16, 8)
        return model, torch.randn(8, 16), torch.randn(8, 16)

    def embed(model, x):
        return torch.nn.functional.normalize(model(x), dim=-1)

    def rank_main(rank, world, init, out):
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
        model, queries, passages = encoder_and_batch()
        mine = slice(rank * 8 // world, (rank + 1) * 8 // world)
        q, p = embed(model, queries[mine]), embed(model, passages[mine])
        loss = info_nce(gather_with_grad(q), gather_with_grad(p), 0.05)
        loss.backward()
        all_reduce_gradients(model, world)
        if rank == 0:
            with open(out, "w") as handle:
                json.dump({"loss": loss.item(), "grad": model.weight.grad.flatten().tolist()}, handle)
        dist.destroy_process_group()

    if __name__ == "__main__":
        init, out = sys.argv[1], sys.argv[2]
        mp.spawn(rank_main, args=(2, init, out), nprocs=2, join=True)
    """
)


def test_gathered_loss_gives_each_rank_the_global_batch_gradient(tmp_path: Path) -> None:
    import torch

    from hybrid_tui.training.loss import info_nce

    ranks = rank0_result(_RANKS, tmp_path)

    torch.manual_seed(0)
    model = torch.nn.Linear(16, 8)
    queries, passages = torch.randn(8, 16), torch.randn(8, 16)
    q = torch.nn.functional.normalize(model(queries), dim=-1)
    p = torch.nn.functional.normalize(model(passages), dim=-1)
    loss = info_nce(q, p, 0.05)
    loss.backward(retain_graph=True)

    assert ranks["loss"] == pytest.approx(loss.item(), rel=1e-6)
    expected = model.weight.grad.flatten()
    assert torch.allclose(torch.tensor(ranks["grad"]), expected, rtol=1e-5, atol=1e-7)
    # without the gather (each rank's own 4 pairs only) the gradient would differ: the test can fail
    half = info_nce(q[:4], p[:4], 0.05) + info_nce(q[4:], p[4:], 0.05)
    (own,) = torch.autograd.grad(half / 2, model.weight)
    assert not torch.allclose(own.flatten(), expected, rtol=1e-3)


@pytest.mark.slow
def test_torchrun_two_processes_leave_one_finished_run(workdir: Path, data_root: Path) -> None:
    from hybrid_tui.tracking import Tracker

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "hybrid_tui",
            "train",
            str(REPO / "recipes" / "smoke.toml"),
            "--data-dir",
            str(data_root),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("finished in") == 1, done.stdout  # rank 0 reports, once
    assert done.stdout.count("step 20/20") == 1, done.stdout
    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = tracker.list_runs()
    assert len(runs) == 1
    detail = tracker.get_run(runs[0].run_id)
    assert detail.status == "FINISHED"
    assert "eval/xquad_r/multi/avg/map" in detail.metrics
