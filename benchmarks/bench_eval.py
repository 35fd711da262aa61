"""XQuAD-R evaluation time: `evaluate_retrieval` vs (a) only encoding its texts, (b) a naive script.

Sides, all on e5-small-offline (CPU, fp32) and the same retrieval set:
- hybrid-tui: `evaluate_retrieval(encoder, rset, ("mono", "cross", "multi"))`: full-ranking mAP,
  recall and language bias for all 11 languages (11 mono, 110 cross, 11 multi evaluations).
- (a) encode only: the same `BiEncoder.encode` calls on the same texts (every language's questions
  and candidates once, length-sorted batches of 64), nothing scored. Goal: hybrid-tui <= 1.10x this.
- (c) encode only with the padded forward (`model.padding_free = false`): the same encode
  calls through the standard HF forward, to show what the default padding-free forward changes
  in evaluation (batches are length-sorted, so little padding is left to remove); the embeddings
  of both are compared.
- (b) naive: what a practitioner writes with sentence-transformers + ranx: for each setting encode
  the texts it needs with `SentenceTransformer.encode` (prompts "query: "/"passage: ",
  normalised). A setting is one evaluation as the issue counts them (11 mono, 110 cross, 11 multi
  for XQuAD-R): `--naive-encodes per-evaluation`, the default; `per-kind` is a stronger baseline
  that encodes once per kind (mono, cross, multi), i.e. 3 passes. Then retrieve the top 100 per query with
  `sentence_transformers.util.semantic_search`, score each evaluation (per language, per pair) with
  ranx `map@100`, average. Goal: hybrid-tui >= 10x faster, with the same mAP: hybrid-tui's
  embeddings are re-scored with `map_cutoff=100` and the mono/cross/multi averages must agree with
  ranx to 1e-4 (asserted).

Size: encoding XQuAD-R in full (13,014 candidates + 13,090 questions) takes 10+ minutes per pass on
2 CPU cores, so the measured run keeps `--max-questions` questions (ids common to all languages)
and the first `--max-candidates` sentences of each language's pool (questions whose answer
sentence falls beyond the cut in any language are dropped first). The output says which. The
scoring half is also timed at the FULL size (13,090 x 13,014, random unit vectors: the counting
work does not depend on the values) and the full-size ratio (a) is extrapolated from it with the
measured encoding rate, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

SETTINGS = ("mono", "cross", "multi")
GOAL_A = 1.10
GOAL_B = 10.0


def cut_set(rset, max_questions: int | None, max_candidates: int | None):
    """Keep the first `max_candidates` sentences per language and `max_questions` question ids
    whose answer lies inside the kept sentences in every language (same ids everywhere)."""
    langs = rset.languages
    if max_candidates:
        for lang in langs:
            rset.candidates[lang] = rset.candidates[lang][:max_candidates]
        common = set.intersection(*(set(rset.answer_index[lang]) for lang in langs))
        ok = sorted(
            qid
            for qid in common
            if all(rset.answer_index[lang][qid] < max_candidates for lang in langs)
        )
    else:
        ok = sorted(set.intersection(*(set(rset.answer_index[lang]) for lang in langs)))
    keep = set(ok[:max_questions] if max_questions else ok)
    for lang in langs:
        rset.questions[lang] = [q for q in rset.questions[lang] if q.id in keep]
        rset.answer_index[lang] = {q: k for q, k in rset.answer_index[lang].items() if q in keep}
    return rset


class TimedEncoder:
    """Wraps a BiEncoder: counts the time spent in `encode` and keeps the embeddings."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.seconds = 0.0
        self.out: dict[tuple[str, int], np.ndarray] = {}

    def encode(self, texts, kind, batch_size=64, progress=None):
        t0 = time.perf_counter()
        emb = self.encoder.encode(texts, kind, batch_size=batch_size, progress=progress)
        self.seconds += time.perf_counter() - t0
        self.out[(kind, len(self.out))] = emb
        return emb


def naive(
    st_model, rset, settings=SETTINGS, k: int = 100, encodes: str = "per-evaluation"
) -> dict[str, float]:
    """The naive script: encode per setting with sentence-transformers, rank with semantic_search,
    score with ranx map@100, macro-average per setting. `encodes`: "per-evaluation" re-encodes the
    query and pool texts of every (query language, pool) evaluation; "per-kind" once per kind."""
    from ranx import Qrels, Run, evaluate
    from sentence_transformers import util

    langs = rset.languages

    def enc(texts, prompt, max_len):
        st_model.max_seq_length = max_len
        return st_model.encode(
            texts,
            prompt=prompt,
            batch_size=64,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    def score(q_ids, q_emb, c_ids, c_emb, relevant):
        hits = util.semantic_search(q_emb, c_emb, top_k=min(k, len(c_ids)))
        run = {
            qid: {c_ids[h["corpus_id"]]: float(h["score"]) for h in hs}
            for qid, hs in zip(q_ids, hits, strict=False)
        }
        qrels = {qid: {cid: 1 for cid in relevant[qid]} for qid in q_ids}
        return float(evaluate(Qrels(qrels), Run(run), f"map@{k}"))

    def q_enc(x):
        return enc([q.text for q in rset.questions[x]], "query: ", 64)

    def c_enc(y):
        return enc([cd.text for cd in rset.candidates[y]], "passage: ", 128)

    out = {}
    for setting in settings:
        if encodes == "per-kind":
            q_once, c_once = {x: q_enc(x) for x in langs}, {y: c_enc(y) for y in langs}
            q_emb, c_emb = q_once.__getitem__, c_once.__getitem__
        else:
            q_emb, c_emb = q_enc, c_enc
        q_ids = {x: [f"{x}/{q.id}" for q in rset.questions[x]] for x in langs}
        c_ids = {y: [f"{y}/{cd.id}" for cd in rset.candidates[y]] for y in langs}

        def rel(x, ys, c_ids=c_ids):
            return {
                f"{x}/{q.id}": [
                    c_ids[y][rset.answer_index[y][q.id]] for y in ys if q.id in rset.answer_index[y]
                ]
                for q in rset.questions[x]
            }

        values = []
        if setting in ("mono", "cross"):
            for x in langs:
                for y in langs:
                    if (setting == "mono") != (x == y):
                        continue
                    values.append(score(q_ids[x], q_emb(x), c_ids[y], c_emb(y), rel(x, [y])))
        else:
            import torch

            pool_ids = [cid for y in langs for cid in c_ids[y]]
            pool = torch.cat([c_emb(y) for y in langs]) if encodes == "per-kind" else None
            for x in langs:
                x_pool = pool if pool is not None else torch.cat([c_emb(y) for y in langs])
                values.append(score(q_ids[x], q_emb(x), pool_ids, x_pool, rel(x, langs)))
        out[setting] = float(np.mean(values))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 languages, 40 questions, 150 sentences each"
    )
    parser.add_argument("--max-questions", type=int, default=None)
    parser.add_argument(
        "--max-candidates", type=int, default=None, help="sentences kept per language (0: all)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of (a) encode-only / hybrid-tui"
    )
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument(
        "--naive-encodes",
        choices=("per-evaluation", "per-kind"),
        default="per-evaluation",
        help="naive script: re-encode for each of the 132 evaluations, or once per kind",
    )
    parser.add_argument("--no-full-scoring", action="store_true")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    args = parser.parse_args()
    c.setup_env()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA GPU is visible")

    c.print_machine("bench_eval")
    from hybrid_tui.data.lareqa import load_retrieval_set
    from hybrid_tui.evaluation.lareqa import evaluate_embeddings, evaluate_retrieval
    from hybrid_tui.models import resolve_model
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    langs = ["en", "de", "ar"] if args.quick else None
    mq = args.max_questions or (40 if args.quick else 100)
    mc = args.max_candidates if args.max_candidates is not None else (150 if args.quick else 200)
    rset = cut_set(load_retrieval_set("xquad-r", c.data_root(), languages=langs), mq, mc or None)
    n_q = sum(len(v) for v in rset.questions.values())
    n_c = sum(len(v) for v in rset.candidates.values())
    print(
        f"   XQuAD-R: {len(rset.languages)} languages, {n_q // len(rset.languages)} questions each "
        f"({n_q} in all), {'first ' + str(mc) if mc else 'all'} sentences per pool ({n_c} candidates); "
        f"settings {', '.join(SETTINGS)}; NOT the full 1190-question / 13,014-sentence set",
        flush=True,
    )
    encoder = BiEncoder.load(ModelConfig(spec="e5-small-offline"), device=args.device)
    encoder.eval()
    padded_encoder = BiEncoder.load(
        ModelConfig(spec="e5-small-offline", padding_free=False), device=args.device
    )
    padded_encoder.eval()
    print(f"   {encoder.padding_free_status}; (c): {padded_encoder.padding_free_status}")
    jobs = [("query", [q.text for q in rset.questions[x]]) for x in rset.languages]
    jobs += [("passage", [cd.text for cd in rset.candidates[y]]) for y in rset.languages]
    last_embeddings: dict[str, list[np.ndarray]] = {}

    def encode_only(which=encoder, name: str = "enc") -> float:
        t0 = time.perf_counter()
        out = [which.encode(texts, kind, batch_size=64) for kind, texts in jobs]
        if args.device == "cuda":
            torch.cuda.synchronize()
        last_embeddings[name] = out
        return time.perf_counter() - t0

    captured = {}

    def hybrid() -> float:
        timed = TimedEncoder(encoder)
        t0 = time.perf_counter()
        metrics = evaluate_retrieval(timed, rset, SETTINGS, batch_size=64)
        dt = time.perf_counter() - t0
        captured.update(metrics=metrics, timed=timed, total=dt)
        return dt

    st_model = None
    if not args.no_naive:
        from sentence_transformers import SentenceTransformer

        st_model = SentenceTransformer(
            str(resolve_model("e5-small-offline").path), device=args.device
        )
        st_model.eval()
        from ranx import Qrels, Run, evaluate

        t0 = time.perf_counter()  # ranx compiles with numba on first use in every process
        evaluate(Qrels({"q": {"d": 1}}), Run({"q": {"d": 1.0, "e": 0.5}}), "map@100")
        ranx_compile = time.perf_counter() - t0
        print(
            f"   ranx first call (numba compile, paid once per process by the naive script): {ranx_compile:.1f}s"
        )

    naive_times, naive_map = [], {}

    def run_naive() -> float:
        t0 = time.perf_counter()
        naive_map.update(naive(st_model, rset, encodes=args.naive_encodes))
        dt = time.perf_counter() - t0
        naive_times.append(dt)
        return dt

    with torch.inference_mode():
        # order: enc, hybrid, [naive], hybrid, enc, ... : each side sees the same load profile
        enc_t, hyb_t, in_eval_enc, padded_t = [], [], [], []
        for r in range(args.rounds):
            order = [
                ("enc", encode_only),
                ("hyb", hybrid),
                ("padded", lambda: encode_only(padded_encoder, "padded")),
            ]
            if r % 2:
                order.reverse()
            for name, fn in order:
                dt = fn()
                {"enc": enc_t, "hyb": hyb_t, "padded": padded_t}[name].append(dt)
                if name == "hyb":
                    in_eval_enc.append(captured["timed"].seconds)
                print(f"   round {r + 1}: {name} {dt:.1f}s", flush=True)
                if name == "hyb" and r == 0 and st_model is not None:
                    print(f"   round {r + 1}: naive {run_naive():.1f}s", flush=True)

    ratio_a = c.median([h / e for h, e in zip(hyb_t, enc_t, strict=False)])
    scoring = [h - e for h, e in zip(hyb_t, in_eval_enc, strict=False)]
    ratio_inproc = c.median([h / e for h, e in zip(hyb_t, in_eval_enc, strict=False)])
    rows = [
        ["hybrid-tui evaluate_retrieval", f"{c.median(hyb_t):.1f}", "1.000x", ""],
        [
            "(a) encode only (same texts, BiEncoder.encode)",
            f"{c.median(enc_t):.1f}",
            f"{ratio_a:.3f}x",
            f"goal <= {GOAL_A:.2f}x: {c.verdict(ratio_a <= GOAL_A)}",
        ],
        [
            "    same, from inside evaluate_retrieval (encode vs rest)",
            f"{c.median(in_eval_enc):.1f}",
            f"{ratio_inproc:.3f}x",
            f"scoring + glue {c.median(scoring):.2f}s",
        ],
    ]
    padded_ratio = c.median([p / e for p, e in zip(padded_t, enc_t, strict=False)])
    emb_delta = max(
        float(np.abs(a - b).max())
        for a, b in zip(last_embeddings["enc"], last_embeddings["padded"], strict=True)
    )
    rows.append(
        [
            "(c) encode only, padded forward (padding_free = false)",
            f"{c.median(padded_t):.1f}",
            f"{padded_ratio:.3f}x",
            f"padded / padding-free time; max |embedding delta| {emb_delta:.1e}",
        ]
    )
    if naive_times:
        # identical mAP: hybrid-tui's own embeddings re-scored at the naive script's cutoff
        timed = captured["timed"]
        embs = list(timed.out.values())
        nl = len(rset.languages)
        q_emb = dict(zip(rset.languages, embs[:nl], strict=False))
        c_emb = dict(zip(rset.languages, embs[nl:], strict=False))
        cut = evaluate_embeddings(rset, q_emb, c_emb, SETTINGS, map_cutoff=100)
        deltas = {s: abs(cut[f"eval/xquad_r/{s}/avg/map"] - naive_map[s]) for s in SETTINGS}
        speed = c.median(naive_times) / c.median(hyb_t)
        rows.append(
            [
                f"(b) naive: ST encode {args.naive_encodes} + ranx map@100",
                f"{c.median(naive_times):.1f}",
                f"{speed:.2f}x faster",
                f"goal >= {GOAL_B:.0f}x: {c.verdict(speed >= GOAL_B)}",
            ]
        )
    print()
    c.table(
        ["side", "seconds (median)", "ratio", "goal"],
        rows,
        title=f"XQuAD-R evaluation, {len(rset.languages)} languages x {SETTINGS}, "
        f"{n_q} questions, {n_c} candidates, {args.rounds} rounds (naive: 1 run)",
    )
    if naive_times:
        print()
        c.table(
            [
                "setting",
                "hybrid-tui map@100",
                "naive ranx map@100",
                "|delta|",
                "hybrid-tui full mAP",
            ],
            [
                [
                    s,
                    f"{cut[f'eval/xquad_r/{s}/avg/map']:.5f}",
                    f"{naive_map[s]:.5f}",
                    f"{deltas[s]:.1e}",
                    f"{captured['metrics'][f'eval/xquad_r/{s}/avg/map']:.5f}",
                ]
                for s in SETTINGS
            ],
            title="mAP agreement (same model; hybrid-tui's embeddings re-scored at cutoff 100)",
        )
        assert all(d < 1e-4 for d in deltas.values()), f"mAP differs: {deltas}"
        print("mAP identical within 1e-4: yes")

    full = None
    if not args.no_full_scoring:
        full = full_scoring(rset, c.median(in_eval_enc) / (n_q + n_c))
    if args.json:
        summary = {
            "eval_vs_encode_only": round(ratio_a, 4),
            "padded_encode_vs_padding_free": round(padded_ratio, 4),
            "max_embedding_delta_padded_vs_padding_free": emb_delta,
            "seconds": {
                "evaluate_retrieval": round(c.median(hyb_t), 3),
                "encode_only": round(c.median(enc_t), 3),
                "encode_only_padded": round(c.median(padded_t), 3),
            },
            "questions": n_q,
            "candidates": n_c,
            "device": args.device,
            "machine": c.machine(),
        }
        if naive_times:
            summary["naive_speedup"] = round(c.median(naive_times) / c.median(hyb_t), 3)
            summary["map_delta_vs_naive"] = max(deltas.values())
        if full is not None:
            summary["full_size_ratio_extrapolated"] = round(full, 4)
        print(json.dumps(summary), flush=True)


def full_scoring(small, seconds_per_text: float) -> float:
    """Time `evaluate_embeddings` at XQuAD-R's full size on random unit vectors and extrapolate."""
    from hybrid_tui.data.lareqa import load_retrieval_set
    from hybrid_tui.evaluation.lareqa import evaluate_embeddings

    full = load_retrieval_set("xquad-r", c.data_root())
    rng = np.random.default_rng(0)

    def unit(n):
        x = rng.standard_normal((n, 384)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    q = {x: unit(len(full.questions[x])) for x in full.languages}
    cd = {y: unit(len(full.candidates[y])) for y in full.languages}
    t0 = time.perf_counter()
    evaluate_embeddings(full, q, cd, SETTINGS)
    score_s = time.perf_counter() - t0
    n = sum(map(len, full.questions.values())) + sum(map(len, full.candidates.values()))
    enc_est = n * seconds_per_text
    print()
    c.table(
        ["full XQuAD-R (1190 q x 11, 13,014 sentences)", "seconds"],
        [
            ["scoring, every setting (measured, random unit vectors)", f"{score_s:.1f}"],
            [f"encoding {n} texts (EXTRAPOLATED from this run's rate)", f"{enc_est:.0f}"],
            ["ratio (a) at full size (extrapolated)", f"{(enc_est + score_s) / enc_est:.3f}x"],
        ],
    )
    return (enc_est + score_s) / enc_est


if __name__ == "__main__":
    main()
