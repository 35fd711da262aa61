"""MIRACL evaluation: the release layout read, nDCG@10 / Recall@100 equal to trec_eval's on the
same ranking, a resumable encode cache, faiss index choice, and bad input refused up front."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.errors import HybridTuiError
from tests.conftest import one_line

LANGS = ("sw", "th", "yo")
WORDS = {
    "sw": "maji mto ziwa mlima jua mvua shamba mji barabara shule kitabu nyumba".split(),
    "th": "น้ำ แม่น้ำ ภูเขา ฝน ทุ่ง เมือง ถนน โรงเรียน หนังสือ บ้าน ตลาด ทะเล".split(),
    "yo": "omi odo oke ojo oko ilu ona ile iwe oja okun igbo".split(),
}
DOCS, TOPICS = 50, 8


def _text(rng: np.random.Generator, lang: str, n: int) -> str:
    return " ".join(rng.choice(WORDS.get(lang, WORDS["sw"]), n))


def build_fixture(root: Path, langs=LANGS, split: str = "dev", nested: bool = True) -> dict:
    """A MIRACL-layout folder: topics/qrels under miracl/, corpus shards under miracl-corpus/.

    Each language: 50 passages over two gzip shards, 8 judged topics (one with only a 0 grade,
    which trec_eval-style scoring leaves out), one topic without judgements, grades 0, 1 and 2.
    Returns what was written, for the oracle.
    """
    rng = np.random.default_rng(7)
    topics_root = root / "miracl" if nested else root
    corpus_root = root / "miracl-corpus" if nested else root
    written = {}
    for lang in langs:
        docs = [
            {"docid": f"{100 + i // 3}#{i % 3}", "title": f"T{i}", "text": _text(rng, lang, 12)}
            for i in range(DOCS)
        ]
        corpus = corpus_root / f"miracl-corpus-v1.0-{lang}"
        corpus.mkdir(parents=True)
        for shard, rows in enumerate((docs[:30], docs[30:])):
            with gzip.open(corpus / f"docs-{shard}.jsonl.gz", "wt", encoding="utf-8") as out:
                out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        base = topics_root / f"miracl-v1.0-{lang}"
        (base / "topics").mkdir(parents=True)
        (base / "qrels").mkdir(parents=True)
        topics = {f"{lang}{q}": _text(rng, lang, 4) for q in range(TOPICS + 1)}
        qrels: dict[str, dict[str, int]] = {}
        for q, qid in enumerate(list(topics)[:TOPICS]):
            picked = rng.choice(DOCS, 5, replace=False)
            grades = [0, 0] if q == 0 else [1, rng.integers(1, 3), 0, 1 if q % 2 else 0, 0]
            qrels[qid] = {docs[i]["docid"]: int(g) for i, g in zip(picked, grades, strict=False)}
        (base / "topics" / f"topics.miracl-v1.0-{lang}-{split}.tsv").write_text(
            "".join(f"{qid}\t{text}\n" for qid, text in topics.items()), encoding="utf-8"
        )
        (base / "qrels" / f"qrels.miracl-v1.0-{lang}-{split}.tsv").write_text(
            "".join(
                f"{qid}\tQ0\t{doc}\t{grade}\n"
                for qid, judged in qrels.items()
                for doc, grade in judged.items()
            ),
            encoding="utf-8",
        )
        written[lang] = {"docs": docs, "topics": topics, "qrels": qrels}
    return written


def _pytrec(qrels: dict, run: dict) -> dict[str, float]:
    import pytrec_eval

    judged = {q: j for q, j in qrels.items() if any(g > 0 for g in j.values())}
    scored = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    return {
        "ndcg_10": float(np.mean([s["ndcg_cut_10"] for s in scored.values()])),
        "recall_100": float(np.mean([s["recall_100"] for s in scored.values()])),
        "topics": len(scored),
    }


def test_eval_json_matches_pytrec_eval_on_numpy_ranking(
    run_cli, tmp_path: Path, monkeypatch
) -> None:
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    written = build_fixture(tmp_path / "data")
    monkeypatch.setenv("HYBRID_TUI_EMBEDDINGS", str(tmp_path / "embeddings"))
    done = run_cli(
        *("eval", "--dataset", "miracl", "--data-dir", str(tmp_path / "data")),
        *("--langs", ",".join(LANGS), "--model", "tiny-random", "--json"),
        check_code=0,
    )
    result = json.loads(done.stdout)
    metrics = result["metrics"]
    encoder = BiEncoder.load(ModelConfig(spec="tiny-random"))
    encoder.eval()
    oracle = {}
    for lang in LANGS:
        docs, topics = written[lang]["docs"], written[lang]["topics"]
        # "title text", stored as float16 in the cache: the same vectors, ranked by plain numpy
        passages = encoder.encode([f"{d['title']} {d['text']}" for d in docs], "passage")
        passages = passages.astype(np.float16).astype(np.float32)
        queries = encoder.encode(list(topics.values()), "query")
        scores = queries @ passages.T
        run = {
            qid: {docs[i]["docid"]: float(row[i]) for i in np.argsort(-row)[:100]}
            for qid, row in zip(topics, scores, strict=True)
        }
        oracle[lang] = _pytrec(written[lang]["qrels"], run)
        for metric in ("ndcg_10", "recall_100"):
            ours = metrics[f"eval/miracl/mono/{lang}/{metric}"]
            assert ours == pytest.approx(oracle[lang][metric], abs=1e-9), (lang, metric)
        assert result["questions"][lang] == oracle[lang]["topics"] == TOPICS - 1
        assert result["passages"][lang] == DOCS
    for metric in ("ndcg_10", "recall_100"):
        mean = np.mean([oracle[lang][metric] for lang in LANGS])
        assert metrics[f"eval/miracl/mono/avg/{metric}"] == pytest.approx(mean, abs=1e-9)
    assert 0 < metrics["eval/miracl/mono/avg/ndcg_10"] < 1
    assert result["split"] == "dev" and result["languages"] == list(LANGS)
    assert len(list((tmp_path / "embeddings").glob("*/embeddings.npy"))) == len(LANGS)


def test_tables_print_per_language_and_average(run_cli, tmp_path: Path, monkeypatch) -> None:
    build_fixture(tmp_path / "data", langs=("sw",), nested=False)
    monkeypatch.setenv("HYBRID_TUI_EMBEDDINGS", str(tmp_path / "embeddings"))
    done = run_cli(
        *("eval", "--dataset", "miracl", "--data-dir", str(tmp_path / "data")),
        *("--model", "tiny-random"),
        check_code=0,
    )
    assert "nDCG@10" in done.stdout and "R@100" in done.stdout
    rows = [line.split("│")[1:-1] for line in done.stdout.splitlines() if line.count("│") >= 5]
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}
    assert cells["sw"][:2] == ["7", "50"] and cells["avg"][:2] == ["", ""]
    assert all(0 <= float(value) <= 1 for value in cells["sw"][2:] + cells["avg"][2:])


class _CountingEncoder:
    """A real encoder that counts the passages it encodes and can stop after N chunks."""

    def __init__(self, encoder, stop_after: int | None = None) -> None:
        self.encoder, self.stop_after, self.calls, self.texts = encoder, stop_after, 0, 0

    def encode(self, texts, kind, batch_size=64, progress=None):
        if self.stop_after is not None and self.calls == self.stop_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.texts += len(texts)
        return self.encoder.encode(texts, kind, batch_size=batch_size)


def test_encode_cache_resumes_after_interrupt_without_recomputing(tmp_path: Path) -> None:
    from hybrid_tui.evaluation.search import cache_key, encode_corpus, model_fingerprint
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    encoder = BiEncoder.load(ModelConfig(spec="tiny-random"))
    encoder.eval()
    passages = [f"passage {i} " + "word " * (i % 7) for i in range(45)]
    key = cache_key(model_fingerprint(encoder), "corpus-a", "float32")
    interrupted = _CountingEncoder(encoder, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(interrupted, passages, key, tmp_path / "a", "float32", chunk_rows=10)
    state = json.loads((tmp_path / "a" / key / "state.json").read_text())
    assert state["chunks_done"] == 2 and not state["complete"]
    resumed = _CountingEncoder(encoder)
    first = encode_corpus(resumed, passages, key, tmp_path / "a", "float32", chunk_rows=10)
    assert resumed.texts == 25 and resumed.calls == 3  # chunks 3-5 only
    whole = encode_corpus(_CountingEncoder(encoder), passages, key, tmp_path / "b", "float32", 10)
    np.testing.assert_array_equal(first, whole)
    np.testing.assert_allclose(first, encoder.encode(passages, "passage"), atol=1e-6)
    again = _CountingEncoder(encoder)
    np.testing.assert_array_equal(
        encode_corpus(again, passages, key, tmp_path / "a", "float32", 10), first
    )
    assert again.texts == 0


def test_two_processes_wanting_one_corpus_encode_it_once(tmp_path: Path) -> None:
    """Two jobs evaluating the same corpus at once: the second waits for the first's cache entry
    instead of re-creating the matrix under it, and both read the same rows."""
    import threading
    import time

    from hybrid_tui.evaluation.search import cache_key, encode_corpus, model_fingerprint
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    encoder = BiEncoder.load(ModelConfig(spec="tiny-random"))
    encoder.eval()
    passages = [f"passage {i} " + "word " * (i % 5) for i in range(30)]
    key = cache_key(model_fingerprint(encoder), "corpus-c", "float32")

    class Slow(_CountingEncoder):
        def encode(self, texts, kind, batch_size=64, progress=None):
            time.sleep(0.2)
            return super().encode(texts, kind, batch_size, progress)

    first, second = Slow(encoder), Slow(encoder)
    results: dict = {}
    waited: list[str] = []

    def run(name, enc, progress=None):
        results[name] = np.array(
            encode_corpus(enc, passages, key, tmp_path, "float32", 10, progress=progress)
        )

    a = threading.Thread(target=run, args=("a", first))
    a.start()
    time.sleep(0.1)  # the first is inside its first chunk
    b = threading.Thread(target=run, args=("b", second, lambda d, n, t: waited.append(d)))
    b.start()
    a.join(30)
    b.join(30)
    assert first.texts + second.texts == len(passages)  # one encode in all
    np.testing.assert_array_equal(results["a"], results["b"])
    np.testing.assert_allclose(results["b"], encoder.encode(passages, "passage"), atol=1e-6)
    assert any("another process is encoding it" in d for d in waited)


def test_cache_key_follows_weights_and_content() -> None:
    import torch

    from hybrid_tui.evaluation.search import cache_key, model_fingerprint
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    encoder = BiEncoder.load(ModelConfig(spec="tiny-random"))
    before = model_fingerprint(encoder)
    assert model_fingerprint(BiEncoder.load(ModelConfig(spec="tiny-random"))) == before
    with torch.no_grad():
        next(encoder.model.parameters()).add_(1e-3)
    assert model_fingerprint(encoder) != before
    assert cache_key(before, "a", "float16") != cache_key(before, "b", "float16")
    assert cache_key(before, "a", "float16") != cache_key(before, "a", "float32")


def test_index_kind_by_size_and_hnsw_agrees_with_flat() -> None:
    from hybrid_tui.evaluation.search import build_index, index_kind, search

    assert index_kind(1_000, gpu=False) == "flat"
    assert index_kind(2_000_000, gpu=False) == "hnsw"
    assert index_kind(2_000_000, gpu=True) == "ivf"
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((300, 16)).astype(np.float16)
    queries = rng.standard_normal((20, 16)).astype(np.float32)
    flat, kind = build_index(rows, use_gpu=False)
    assert kind == "flat"
    hnsw, kind = build_index(rows, flat_limit=100, use_gpu=False)
    assert kind == "hnsw"
    _, exact = search(flat, queries, 10)
    _, approx = search(hnsw, queries, 10)
    expected = np.argsort(-(queries @ rows.astype(np.float32).T), axis=1)[:, :10]
    np.testing.assert_array_equal(exact, expected)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)])
    assert overlap > 0.9


def test_both_layouts_load_and_passages_are_title_then_text(tmp_path: Path) -> None:
    from hybrid_tui.data.miracl import load_miracl

    written = build_fixture(tmp_path / "nested", langs=("sw", "th"))
    build_fixture(tmp_path / "flat", langs=("sw", "th"), nested=False)
    nested = load_miracl(tmp_path / "nested")  # every language the folder holds
    flat = load_miracl(tmp_path / "flat", ["th"])
    assert nested.languages == ["sw", "th"] and flat.languages == ["th"]
    doc = written["th"]["docs"][3]
    assert nested.corpora["th"].passages[3] == f"{doc['title']} {doc['text']}"
    assert nested.corpora["th"].docids == flat.corpora["th"].docids
    assert nested.corpora["th"].fingerprint == flat.corpora["th"].fingerprint
    assert nested.question_counts() == {"sw": TOPICS - 1, "th": TOPICS - 1}


def test_hub_needs_listed_languages(monkeypatch) -> None:
    from hybrid_tui.data.miracl import load_miracl

    with pytest.raises(HybridTuiError) as err:
        load_miracl(None, [])  # no data root: the hub, which never downloads all 18 corpora
    one_line(err, "--langs: list the MIRACL languages to download", "sw")


def test_recipe_takes_miracl_eval_and_its_languages() -> None:
    from hybrid_tui.recipe import recipe_from_dict

    recipe = recipe_from_dict({"eval": {"datasets": ["xquad-r", "miracl"], "languages": ["sw"]}})
    assert recipe.eval.datasets == ["xquad-r", "miracl"]
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict({"eval": {"datasets": ["miracle"]}})
    one_line(err, "'miracle'", "miracl")


def _break(root: Path, what: str) -> None:
    lang_dir = root / "miracl" / "miracl-v1.0-sw"
    corpus = root / "miracl-corpus" / "miracl-corpus-v1.0-sw"
    if what == "missing-qrels":
        (lang_dir / "qrels" / "qrels.miracl-v1.0-sw-dev.tsv").unlink()
    elif what == "empty-corpus":
        for shard in corpus.glob("*.gz"):
            with gzip.open(shard, "wt") as out:
                out.write("")
    elif what == "unknown-doc":
        with open(lang_dir / "qrels" / "qrels.miracl-v1.0-sw-dev.tsv", "a") as out:
            out.write("sw1\tQ0\t999#9\t1\n")
    elif what == "no-shards":
        for shard in corpus.glob("*.gz"):
            shard.unlink()


@pytest.mark.parametrize(
    ("what", "args", "expected"),
    [
        ("", ("--langs", "sw,xx"), ["'xx' is not a MIRACL language", "sw, te, th"]),
        ("missing-qrels", (), ["qrels file", "qrels.miracl-v1.0-sw-dev.tsv is missing"]),
        ("empty-corpus", (), ["MIRACL sw", "has no passages"]),
        ("unknown-doc", (), ["qrels.miracl-v1.0-sw-dev.tsv", "not in the sw corpus", "'999#9'"]),
        ("no-shards", (), ["no corpus shards (docs-*.jsonl.gz)", "miracl-corpus-v1.0-sw"]),
        ("", ("--max-questions", "5"), ["--max-questions does not apply to --dataset miracl"]),
        ("", ("--data-dir", "."), ["no MIRACL release under", "--data-dir"]),
    ],
)
def test_bad_input_is_one_line_exit_2(run_cli, tmp_path: Path, what, args, expected) -> None:
    build_fixture(tmp_path / "data", langs=("sw",))
    _break(tmp_path / "data", what)
    done = run_cli(
        *("eval", "--dataset", "miracl", "--data-dir", str(tmp_path / "data"), "--langs", "sw"),
        *("--model", "no-such-model-loads-after-the-data", *args),
        check_code=2,
    )
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for part in expected:
        assert part in lines[0], (part, lines[0])
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_recipe_with_miracl_eval_trains_and_logs_its_keys(
    run_cli, workdir: Path, data_root: Path, monkeypatch
) -> None:
    import time

    from tests.conftest import REPO, tracker_of

    root = workdir / "data"
    build_fixture(root, langs=("de", "en", "th"))  # the smoke recipe's eval languages
    for name in ("xquad-r", "mlqa-dev-r"):
        (root / name).symlink_to(data_root / name)
    monkeypatch.setenv("HYBRID_TUI_EMBEDDINGS", str(workdir / "embeddings"))
    announce = workdir / f"announce-{time.time_ns()}"
    run_cli(
        *("train", str(REPO / "recipes" / "smoke.toml"), "--data-dir", str(root)),
        *("--set", 'eval.datasets=["xquad-r", "miracl"]', "--announce", str(announce)),
        check_code=0,
    )
    run_id = announce.read_text().strip()
    detail = tracker_of(workdir).get_run(run_id)
    assert detail.status == "FINISHED"
    for key in ("eval/xquad_r/mono/avg/map", "eval/miracl/mono/th/ndcg_10"):
        assert key in detail.metrics, key
    per_language = [detail.metrics[f"eval/miracl/mono/{x}/recall_100"] for x in ("de", "en", "th")]
    assert detail.metrics["eval/miracl/mono/avg/recall_100"] == pytest.approx(np.mean(per_language))
    (table,) = workdir.rglob(f"{run_id}/artifacts/tables/miracl.json")
    assert json.loads(table.read_text())["th"]["ndcg_10"] == pytest.approx(
        detail.metrics["eval/miracl/mono/th/ndcg_10"]
    )
    from hybrid_tui.runs.files import RunFiles

    card = (RunFiles.for_run(run_id).model / "README.md").read_text()
    assert "| language | nDCG@10 | R@100 |" in card and "| th |" in card


def test_recipe_missing_miracl_files_fails_before_a_run(run_cli, workdir: Path, data_root) -> None:
    from tests.conftest import REPO, tracked_runs

    root = workdir / "data"
    build_fixture(root, langs=("de", "th"))  # the smoke recipe also evaluates en
    for name in ("xquad-r", "mlqa-dev-r"):
        (root / name).symlink_to(data_root / name)
    done = run_cli(
        *("train", str(REPO / "recipes" / "smoke.toml"), "--data-dir", str(root)),
        *("--set", 'eval.datasets=["xquad-r", "miracl"]'),
        check_code=2,
    )
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: MIRACL en: topics file") and "miracl-v1.0-en" in line
    assert tracked_runs(workdir) == []
