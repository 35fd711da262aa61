"""The trainer's bucketed gradient all-reduce (torchrun, gloo on CPU, 2 ranks) sums exactly what
the one-parameter-at-a-time all-reduce it replaced summed."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.training.gloo_ranks import rank0_result

# Two gloo ranks build the same small model (parameters from 4 to 4096 values, one with no
# gradient), each back-propagates its own random batch, then rank 0 reports: the gradients after
# the per-parameter all-reduce (the previous trainer code, on a copy) and after the trainer's
# bucketed one with a 2 KiB bucket (several buckets, one oversized parameter alone), and the
# bucket sizes.
_RANKS = textwrap.dedent(
    """
    import copy, json, sys
    import torch, torch.distributed as dist, torch.multiprocessing as mp
    from hybrid_tui.training.distributed import all_reduce_gradients, gradient_buckets

    BUCKET = 2048

    def model_with_gradients(rank):
        torch.manual_seed(0)
        model = torch.nn.ModuleDict({
            "embed": torch.nn.Embedding(64, 64),  # 4096 values: over the bucket on its own
            "a": torch.nn.Linear(64, 8),
            "norm": torch.nn.LayerNorm(8),
            "b": torch.nn.Linear(8, 3),
            "unused": torch.nn.Linear(3, 3),  # no gradient on any rank
        })
        torch.manual_seed(100 + rank)  # each rank its own data: different gradients
        ids = torch.randint(0, 64, (5, 7))
        hidden = model["norm"](model["a"](model["embed"](ids).mean(1)))
        (model["b"](hidden) ** 2).sum().backward()
        return model

    def per_parameter(model):
        for param in model.parameters():
            if param.grad is not None:
                dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)

    def grads(model):
        return {n: p.grad.flatten().tolist() for n, p in model.named_parameters() if p.grad is not None}

    def rank_main(rank, world, init, out):
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
        model = model_with_gradients(rank)
        own = grads(model)
        reference = copy.deepcopy(model)
        for mine, theirs in zip(model.parameters(), reference.parameters()):
            theirs.grad = None if mine.grad is None else mine.grad.clone()
        per_parameter(reference)
        buckets = [len(b) for b in gradient_buckets(model, BUCKET)]
        all_reduce_gradients(model, world, bucket_bytes=BUCKET)
        if rank == 0:
            with open(out, "w") as handle:
                json.dump({"own": own, "reference": grads(reference), "bucketed": grads(model),
                           "buckets": buckets}, handle)
        dist.destroy_process_group()

    if __name__ == "__main__":
        init, out = sys.argv[1], sys.argv[2]
        mp.spawn(rank_main, args=(2, init, out), nprocs=2, join=True)
    """
)


def test_bucketed_all_reduce_equals_the_per_parameter_one_on_two_gloo_ranks(
    tmp_path: Path,
) -> None:
    import torch

    result = rank0_result(_RANKS, tmp_path)

    buckets = result["buckets"]
    assert len(buckets) >= 3 and buckets[0] == 1 and max(buckets) > 1  # the big one alone
    assert sum(buckets) == len(result["reference"]) == 7  # `unused` has no gradient
    assert result["bucketed"].keys() == result["reference"].keys()
    for name, reference in result["reference"].items():
        bucketed = torch.tensor(result["bucketed"][name])
        assert torch.allclose(bucketed, torch.tensor(reference), rtol=0, atol=1e-6), name
        # the sum over ranks, not this rank's own gradient: the reduce happened
        assert not torch.allclose(bucketed, torch.tensor(result["own"][name]), atol=1e-6), name
