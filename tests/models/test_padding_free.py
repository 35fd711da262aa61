"""The padding-free forward computes what the padded HF forward computes, on real MLQA-R batches.

Embeddings within 1e-5 and InfoNCE gradients within 1e-4 (relative, every parameter) in fp32 with
dropout off, for the three packaged BERT models and tiny random XLM-R / RoBERTa models; the
gradient-cached step agrees too; other architectures fall back (or, when the recipe insists, are
refused before a run exists); a resumed run continues bit for bit with it on.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.models.encoder import BiEncoder
from hybrid_tui.recipe import ModelConfig, recipe_from_dict
from hybrid_tui.training.loss import info_nce

PACKAGED = ("tiny-random", "minilm-offline", "e5-small-offline")
TAU = 0.05


@pytest.fixture(scope="module")
def mlqa_batch(data_root: Path) -> tuple[list[str], list[str]]:
    """One hybrid batch of 24 real MLQA-R (question, answer sentence) pairs, drawn by the
    project's sampler: mono and cross-lingual pairs of varied lengths."""
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.recipe import DataConfig, SamplerConfig
    from hybrid_tui.training.sampling import BatchSampler

    pairs = load_training_pairs(DataConfig(dataset="mlqa-r"), str(data_root))
    sampler = BatchSampler(pairs, 24, SamplerConfig(mono=0.5, cross=0.5), seed=3)
    queries, passages = [], []
    for _ in range(2):  # one mono and one cross batch, 12 pairs of each
        batch = sampler.next_batch()
        for b in batch.items[:12]:
            queries.append(pairs.items[b.item].texts[b.query_lang][0])
            passages.append(pairs.items[b.item].texts[b.passage_lang][1])
    return queries, passages


def _load(spec: str, **model) -> BiEncoder:
    torch.manual_seed(0)
    config = ModelConfig(spec=spec, max_query_length=64, max_passage_length=128, **model)
    return BiEncoder.load(config)


def _embed_and_grads(encoder: BiEncoder, queries, passages, packed: bool):
    """Embeddings and every parameter's InfoNCE gradient, one way or the other."""
    encoder.padding_free = packed
    encoder.zero_grad(set_to_none=True)
    q = encoder(encoder.tokenize(queries, "query"))
    p = encoder(encoder.tokenize(passages, "passage"))
    info_nce(q, p, TAU).backward()
    grads = {name: param.grad.clone() for name, param in encoder.named_parameters()}
    return q.detach(), p.detach(), grads


def _assert_same_gradients(reference: dict, packed: dict, rtol: float = 1e-4) -> None:
    """Every parameter within `rtol` relative (in norm). Attention key biases have a gradient that
    is zero in exact arithmetic (softmax ignores a score shift shared by all keys): both paths
    leave rounding noise there, so those are held to an absolute floor instead."""
    assert reference.keys() == packed.keys()
    largest = max(float(g.norm()) for g in reference.values())
    floor = 1e-6 * largest
    for name, want in reference.items():
        error = float((packed[name] - want).norm())
        if float(want.norm()) < floor:
            assert name.endswith("attention.self.key.bias"), name
            assert float(packed[name].norm()) < floor, name
        else:
            assert error <= rtol * float(want.norm()), (name, error / float(want.norm()))


def _real_fraction(encoder: BiEncoder, texts: list[str], kind: str) -> float:
    mask = encoder.tokenize(texts, kind)["attention_mask"]
    return float(mask.sum()) / mask.numel()


@pytest.mark.parametrize("spec", PACKAGED)
def test_embeddings_and_gradients_equal_the_padded_forward(spec: str, mlqa_batch) -> None:
    queries, passages = mlqa_batch
    encoder = _load(spec).eval()  # dropout off: both paths compute one function
    assert encoder.padding_free and encoder.padding_free_status == (
        "padding-free forward: on (BertModel)"
    )
    # the batch really is padded, so packing changes what the kernels see
    assert _real_fraction(encoder, passages, "passage") < 0.8
    q_ref, p_ref, g_ref = _embed_and_grads(encoder, queries, passages, packed=False)
    q_pf, p_pf, g_pf = _embed_and_grads(encoder, queries, passages, packed=True)
    assert float((q_pf - q_ref).abs().max()) <= 1e-5
    assert float((p_pf - p_ref).abs().max()) <= 1e-5
    _assert_same_gradients(g_ref, g_pf)
    # and the padded reference is HF's own forward, not the packed one by another name
    hf = encoder.model(**encoder.tokenize(passages, "passage")).last_hidden_state
    assert hf.shape[1] > 1 and hf.shape[0] == len(passages)


def _tiny_model_folder(tmp_path: Path, model_type: str) -> Path:
    """A 2-layer random model of another class, with tiny-random's (XLM-R) tokenizer: no hub."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from hybrid_tui.models import resolve_model

    source = resolve_model("tiny-random").path
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    sizes = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    if model_type == "distilbert":
        sizes.update(dim=32, hidden_dim=64, n_layers=2, n_heads=2)
    else:
        sizes.update(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=514,
            type_vocab_size=1,
        )
    torch.manual_seed(1)
    model = AutoModel.from_config(AutoConfig.for_model(model_type, **sizes))
    folder = tmp_path / model_type
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("model_type", ["xlm-roberta", "roberta"])
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_xlm_r_and_roberta_positions_and_cls_pooling(
    model_type: str, pooling: str, tmp_path: Path, mlqa_batch
) -> None:
    """RoBERTa-style models number positions from padding_idx + 1: packed must do the same.
    In float64, so that any difference is the computation's, not rounding (a random 2-layer
    model with CLS pooling has gradients that are mostly cancellation); not normalised, so a
    wrong scale per row (the mean's divisor) would show."""
    queries, passages = mlqa_batch
    folder = _tiny_model_folder(tmp_path, model_type)
    encoder = _load(str(folder), pooling=pooling, normalize=False).eval().double()
    assert encoder.padding_free, encoder.padding_free_status
    q_ref, p_ref, g_ref = _embed_and_grads(encoder, queries, passages, packed=False)
    q_pf, p_pf, g_pf = _embed_and_grads(encoder, queries, passages, packed=True)
    assert float((q_pf - q_ref).abs().max()) <= 1e-12
    assert float((p_pf - p_ref).abs().max()) <= 1e-12
    _assert_same_gradients(g_ref, g_pf, rtol=1e-9)


def test_left_padding_and_the_jagged_attention_agree(mlqa_batch) -> None:
    """Positions come from where HF puts them in the padded batch (left padding shifts them),
    and the nested-jagged attention (the CUDA path without flash-attn) equals the re-padded one."""
    from hybrid_tui.models.padding_free.forward import pooled_embeddings

    queries, _ = mlqa_batch
    encoder = _load("tiny-random").eval()
    encoder.tokenizer.padding_side = "left"
    features = encoder.tokenize(queries, "query")
    assert not bool(features["attention_mask"][:, 0].all())  # really left-padded
    with torch.no_grad():
        reference = encoder._padded_pooled(features)
        for attention in ("repad", "jagged"):
            packed = pooled_embeddings(encoder.model, features, "mean", attention=attention)
            assert float((packed - reference).abs().max()) <= 1e-5, attention


def test_dropout_applies_in_train_mode_and_replays_under_the_same_rng(mlqa_batch) -> None:
    """Train mode draws dropout (embeddings, attention probabilities, hidden states); the same
    RNG state gives the same draws, which the gradient-cached step and exact resume rely on."""
    queries, _ = mlqa_batch
    encoder = _load("tiny-random")
    features = encoder.tokenize(queries, "query")
    with torch.no_grad():
        evaluated = encoder.eval()(features)
        encoder.train()
        torch.manual_seed(7)
        first = encoder(features)
        torch.manual_seed(7)
        again = encoder(features)
        other = encoder(features)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other, atol=1e-4)
    assert not torch.allclose(first, evaluated, atol=1e-4)


def test_gradient_cached_step_gives_the_same_gradients(mlqa_batch) -> None:
    """`grad_accum_steps` > 1 encodes per chunk under saved RNG states: packed or padded, the same
    gradients (dropout off), and the same as one full-batch step."""
    from hybrid_tui.training.step import _gradient_cached_backward

    queries, passages = mlqa_batch
    encoder = _load("minilm-offline").eval()
    setup = SimpleNamespace(
        encoder=encoder,
        recipe=SimpleNamespace(
            train=SimpleNamespace(temperature=TAU), data=SimpleNamespace(hard_negatives=0)
        ),
        device="cpu",
        autocast_dtype=None,
        scaler=None,
    )
    grads, losses = {}, {}
    for packed in (False, True):
        encoder.padding_free = packed
        encoder.zero_grad(set_to_none=True)
        losses[packed] = float(_gradient_cached_backward(setup, queries, passages, chunks=3))
        grads[packed] = {n: p.grad.clone() for n, p in encoder.named_parameters()}
    assert losses[True] == pytest.approx(losses[False], rel=1e-6)
    _assert_same_gradients(grads[False], grads[True])
    _, _, full = _embed_and_grads(encoder, queries, passages, packed=True)
    _assert_same_gradients(full, grads[True])


def test_padding_free_false_runs_the_hf_forward(mlqa_batch) -> None:
    """The recipe's `false` is the old path: the HF model's own forward runs; with it on, only
    the model's submodules do."""
    queries, _ = mlqa_batch
    calls = []
    for setting in (False, "auto"):
        encoder = _load("tiny-random", padding_free=setting).eval()
        hook = encoder.model.register_forward_hook(
            lambda *args, setting=setting: calls.append(setting)
        )
        encoder.encode(queries[:4], "query")
        hook.remove()
    assert calls == [False]
    off = _load("tiny-random", padding_free=False)
    assert not off.padding_free
    assert off.padding_free_status == "padding-free forward: off (model.padding_free = false)"


def test_unsupported_architecture_falls_back_or_is_refused(tmp_path: Path, mlqa_batch) -> None:
    queries, _ = mlqa_batch
    folder = _tiny_model_folder(tmp_path, "distilbert")
    encoder = _load(str(folder)).eval()
    assert not encoder.padding_free
    assert encoder.padding_free_status == (
        "padding-free forward: off (DistilBertModel: model type 'distilbert' is not BERT, "
        "RoBERTa or XLM-R); using the padded forward"
    )
    assert encoder.encode(queries[:3], "query").shape == (3, 32)
    with pytest.raises(HybridTuiError) as err:
        _load(str(folder), padding_free=True)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("model.padding_free = true, but DistilBertModel cannot")


def test_unsupported_settings_are_named() -> None:
    from hybrid_tui.models.padding_free.forward import unsupported_reason

    def reason(**config):
        return unsupported_reason(SimpleNamespace(model_type="bert", **config))

    assert reason() is None
    assert reason(position_embedding_type="absolute") is None
    assert "relative_key" in reason(position_embedding_type="relative_key")
    assert "decoder" in reason(is_decoder=True)
    assert "decoder" in reason(add_cross_attention=True)
    assert "'gpt2'" in unsupported_reason(SimpleNamespace(model_type="gpt2"))


def test_gradient_checkpointing_is_not_packed() -> None:
    from hybrid_tui.models.padding_free.forward import model_unsupported_reason

    encoder = _load("tiny-random")
    assert model_unsupported_reason(encoder.model) is None
    model = encoder.model
    getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
    assert model_unsupported_reason(encoder.model) == "gradient checkpointing is on"


def test_padding_free_true_on_another_architecture_fails_before_a_run(
    workdir: Path, data_root: Path, tmp_path: Path
) -> None:
    from hybrid_tui.training.loop import run_training
    from tests.conftest import tracked_runs

    folder = _tiny_model_folder(tmp_path, "distilbert")
    recipe = recipe_from_dict(
        {
            "model": {"spec": str(folder), "padding_free": True},
            "data": {"dataset": "mlqa-r", "languages": ["en", "de"], "max_items": 40},
            "train": {"batch_size": 4, "steps": 1, "device": "cpu"},
            "eval": {"languages": ["en", "de"], "max_questions": 5},
        }
    )
    with pytest.raises(HybridTuiError, match="model.padding_free = true, but DistilBertModel"):
        run_training(recipe, data_root=str(data_root))
    assert tracked_runs(workdir) == []


def test_recipe_setting_is_validated_and_recorded() -> None:
    assert recipe_from_dict({}).model.padding_free == "auto"
    for value in ("auto", True, False):
        recipe = recipe_from_dict({"model": {"padding_free": value}})
        assert recipe.model.padding_free == value
        assert recipe.flat_params()["model.padding_free"] == str(value)
        assert f"padding_free = {json.dumps(value)}" in recipe.to_toml()
    for bad in ("yes", 1, "on"):
        with pytest.raises(HybridTuiError, match='padding_free must be "auto", true or false'):
            recipe_from_dict({"model": {"padding_free": bad}})


def test_in_process_resume_is_bit_for_bit_with_padding_free_on(
    tmp_path: Path, data_root: Path
) -> None:
    """Six real trainer steps with dropout vs three, a checkpoint, a fresh setup resumed from it
    (other RNG states in between) and three more: the same weights, bit for bit."""
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.training.inputs import prepare_inputs
    from hybrid_tui.training.saving import save
    from hybrid_tui.training.setup import setup_training
    from hybrid_tui.training.step import train_step

    recipe = recipe_from_dict(
        {
            "model": {"spec": "tiny-random", "max_query_length": 32, "max_passage_length": 48},
            "data": {"dataset": "mlqa-r", "languages": ["en", "de", "es"], "max_items": 200},
            "train": {"batch_size": 8, "steps": 6, "lr": 1e-3, "device": "cpu"},
        }
    )
    pairs = load_training_pairs(recipe.data, str(data_root))

    def trained(files: RunFiles, steps: range, stop_at: int | None = None):
        inputs = prepare_inputs(recipe, str(data_root), pairs=pairs, eval_sets=[])
        assert inputs.padding_free
        setup = setup_training(inputs, files)
        assert setup.encoder.padding_free
        for step in steps:
            train_step(setup, setup.sampler.next_batch())
            if step == stop_at:
                save(setup, files, step)
                return setup
        return setup

    straight = trained(RunFiles.for_run("straight", base=tmp_path), range(1, 7))
    files = RunFiles.for_run("resumed", base=tmp_path)
    trained(files, range(1, 7), stop_at=3)
    torch.manual_seed(12345)  # a fresh process starts from other RNG states
    resumed = trained(files, range(4, 7))
    assert resumed.step == 3
    want = straight.encoder.state_dict()
    for name, value in resumed.encoder.state_dict().items():
        assert torch.equal(value, want[name]), name
