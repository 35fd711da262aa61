"""Hard negatives: every query scores every in-batch positive and every hard negative; the
negative is in the pair's passage language, capped, and never a parallel copy of an in-batch
positive; gradient caching and torchrun's gather keep each query's positive at its own index."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hybrid_tui.command_name import command
from hybrid_tui.data.pairs import ParallelItem, TrainingPairs
from hybrid_tui.training.sampling import Batch, BatchItem
from tests.conftest import REPO, one_error_line, tracker_of

TAU = 0.05


def test_info_nce_scores_each_query_against_all_positives_and_all_hard_negatives():
    import torch

    from hybrid_tui.training.loss import info_nce

    rng = np.random.default_rng(0)
    q, p, n = (rng.normal(size=shape) for shape in ((4, 6), (4, 6), (3, 6)))
    candidates = np.concatenate([p, n])  # by hand: softmax over 4 positives + 3 negatives
    logits = q @ candidates.T / TAU
    logits -= logits.max(axis=1, keepdims=True)
    expected = -np.mean(np.diag(logits[:, :4]) - np.log(np.exp(logits).sum(axis=1)))
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    got = info_nce(as_tensor(q), as_tensor(p), TAU, as_tensor(n))
    assert float(got) == pytest.approx(expected, rel=1e-6)  # the loss is taken in float32
    assert float(info_nce(as_tensor(q), as_tensor(p), TAU, as_tensor(n[:0]))) == pytest.approx(
        float(info_nce(as_tensor(q), as_tensor(p), TAU))
    )


def _setup(cap: int):
    items = [
        ParallelItem(
            "a",
            {"en": ("qa en", "pa en"), "de": ("qa de", "pa de")},
            {"en": ("na en 1", "pb en", "na en 2", "na en 3"), "de": ("na de", "pb de")},
        ),
        ParallelItem(
            "b",
            {"en": ("qb en", "pb en"), "de": ("qb de", "pb de")},
            {"en": ("nb en", "pa de"), "de": ("nb de",)},
        ),
        ParallelItem("c", {"en": ("qc en", "pc en"), "de": ("qc de", "pc de")}),
    ]
    recipe = SimpleNamespace(data=SimpleNamespace(hard_negatives=cap))
    return SimpleNamespace(recipe=recipe, pairs=TrainingPairs(items, ["en", "de"]))


def test_negatives_follow_the_passage_language_are_capped_and_never_a_parallel_copy():
    from hybrid_tui.training.step import hard_negatives

    setup = _setup(cap=2)
    cross = Batch(
        "cross", [BatchItem(0, "de", "en"), BatchItem(1, "en", "de"), BatchItem(2, "en", "de")]
    )
    # a (passage en): "pb en" is b's positive in the batch -> dropped; cap 2 keeps two.
    # b (passage de): its only de negative; c has none.
    assert hard_negatives(setup, cross) == [("na en 1", "na en 2"), ("nb de",), ()]
    mono = Batch("mono", [BatchItem(1, "en", "en"), BatchItem(2, "en", "en")])
    # b's "pa de" is a's German passage, but a is not in this batch: it stays a negative.
    assert hard_negatives(setup, mono) == [("nb en", "pa de"), ()]
    with_a = Batch("mono", [BatchItem(0, "en", "en"), BatchItem(1, "en", "en")])
    # now a is in the batch: its German copy "pa de" is a false negative for b, in any language.
    assert hard_negatives(setup, with_a) == [("na en 1", "na en 2"), ("nb en",)]
    assert hard_negatives(_setup(cap=0), cross) == [(), (), ()]


def test_gradient_caching_with_hard_negatives_gives_the_one_pass_gradients():
    import torch

    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig
    from hybrid_tui.training.loss import info_nce
    from hybrid_tui.training.step import _gradient_cached_backward

    torch.manual_seed(0)
    encoder = BiEncoder.load(ModelConfig(spec="tiny-random", max_query_length=16)).eval()
    queries = [f"question number {i} about topic {i * 7}" for i in range(6)]
    passages = [f"an answer sentence {i} that mentions {i * 7}" for i in range(6)]
    hard = [f"a wrong passage {i} on something else" for i in range(5)]
    encoder.zero_grad(set_to_none=True)
    loss = info_nce(
        encoder(encoder.tokenize(queries, "query")),
        encoder(encoder.tokenize(passages, "passage")),
        TAU,
        encoder(encoder.tokenize(hard, "passage")),
    )
    loss.backward()
    reference = {k: v.grad.clone() for k, v in encoder.named_parameters() if v.grad is not None}
    setup = SimpleNamespace(
        encoder=encoder,
        recipe=SimpleNamespace(
            train=SimpleNamespace(temperature=TAU), data=SimpleNamespace(hard_negatives=2)
        ),
        device="cpu",
        autocast_dtype=None,
        scaler=None,
    )
    encoder.zero_grad(set_to_none=True)
    cached = _gradient_cached_backward(setup, queries, passages, 3, hard)
    assert float(cached) == pytest.approx(float(loss.detach()), rel=1e-6)
    for name, want in reference.items():
        got = dict(encoder.named_parameters())[name].grad
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-7), name


# Two gloo ranks hold 4 pairs each, rank 0 with 3 hard negatives and rank 1 with 1 (counts differ
# after false-negative drops); the gathered loss and gradient must equal one process over the
# whole batch with its 4 negatives after all 8 positives.
_RANKS = textwrap.dedent(
    """
    import json, sys
    import torch, torch.distributed as dist, torch.multiprocessing as mp
    from hybrid_tui.training.loss import gather_varying_with_grad, gather_with_grad, info_nce
    from hybrid_tui.training.distributed import all_reduce_gradients

    def data():
        torch.manual_seed(0)
        return torch.nn.Linear(16, 8), torch.randn(8, 16), torch.randn(8, 16), torch.randn(4, 16)

    def embed(model, x):
        return torch.nn.functional.normalize(model(x), dim=-1)

    def rank_main(rank, world, init, out):
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
        model, queries, passages, negatives = data()
        mine = slice(rank * 4, (rank + 1) * 4)
        hard = negatives[:3] if rank == 0 else negatives[3:]
        q, p, n = embed(model, queries[mine]), embed(model, passages[mine]), embed(model, hard)
        gathered_p = gather_with_grad(p)
        loss = info_nce(gather_with_grad(q), gathered_p, 0.05, gather_varying_with_grad(n))
        loss.backward()
        all_reduce_gradients(model, world)
        if rank == 0:
            with open(out, "w") as handle:
                json.dump({"loss": loss.item(), "grad": model.weight.grad.flatten().tolist(),
                           "positives": gathered_p.detach().tolist()}, handle)
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(rank_main, args=(2, sys.argv[1], sys.argv[2]), nprocs=2, join=True)
    """
)


def test_gathered_hard_negatives_keep_each_positive_at_its_own_index(tmp_path: Path) -> None:
    import torch

    from hybrid_tui.training.loss import info_nce

    script = tmp_path / "ranks.py"
    script.write_text(_RANKS)
    out = tmp_path / "rank0.json"
    init = f"file://{tmp_path / 'rendezvous'}"
    done = subprocess.run(
        [sys.executable, str(script), init, str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = json.loads(out.read_text())
    torch.manual_seed(0)
    model, queries, passages, negatives = (
        torch.nn.Linear(16, 8),
        torch.randn(8, 16),
        torch.randn(8, 16),
        torch.randn(4, 16),
    )
    embed = lambda x: torch.nn.functional.normalize(model(x), dim=-1)  # noqa: E731
    loss = info_nce(embed(queries), embed(passages), 0.05, embed(negatives))
    loss.backward()
    # After the gather, positive i is passage i of the global batch (rank order): labels hold.
    assert np.allclose(ranks["positives"], embed(passages).detach().numpy(), atol=1e-6)
    assert ranks["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert np.allclose(ranks["grad"], model.weight.grad.flatten().numpy(), rtol=1e-4, atol=1e-6)


def _pairs_file(path: Path, negatives: bool) -> Path:
    rows = []
    for i in range(12):
        for lang in ("en", "de"):
            row = {"id": i, "lang": lang, "query": f"q {i} {lang}", "passage": f"p {i} {lang}"}
            if negatives:
                row["negatives"] = [f"wrong {i} {lang} {k}" for k in range(2)] + [
                    f"p {(i + 1) % 12} {lang}"
                ]
            rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _recipe(workdir: Path, data: Path, hard: int) -> Path:
    text = f"""name = "hard"
[model]
spec = "tiny-random"
max_query_length = 16
max_passage_length = 16
[data]
source = "jsonl"
dataset = "{data}"
hard_negatives = {hard}
[sampler]
mono = 0.5
cross = 0.5
[train]
batch_size = 4
steps = 4
lr = 1e-3
device = "cpu"
[eval]
datasets = []
"""
    path = workdir / "hard.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_jsonl_file_with_negatives_trains_and_records_them(run_cli, workdir: Path) -> None:
    data = _pairs_file(workdir / "pairs.jsonl", negatives=True)
    run_cli("train", str(_recipe(workdir, data, hard=2)), check_code=0)
    (run,) = tracker_of(workdir).list_runs()
    history = tracker_of(workdir).metric_history(run.run_id, "train/hard_negatives")
    assert [step for step, _ in history] == [1, 2, 3, 4]
    # 4 pairs x the cap of 2: each row's two 'wrong' passages come first and are never an
    # in-batch positive, so every batch scores 8 hard negatives.
    assert all(value == 8 for _, value in history)
    assert tracker_of(workdir).get_run(run.run_id).params["data.hard_negatives"] == "2"


def test_hard_negatives_asked_of_data_without_them_is_one_line_and_no_run(
    run_cli, workdir: Path
) -> None:
    data = _pairs_file(workdir / "pairs.jsonl", negatives=False)
    line = one_error_line(run_cli("train", str(_recipe(workdir, data, hard=1))))
    assert "data.hard_negatives = 1" in line and "carries no negatives" in line
    assert command("mine") in line
    assert not (workdir / "mlflow.db").exists() or tracker_of(workdir).list_runs() == []
