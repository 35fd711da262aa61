"""Padding-free vs padded forward on one device: embeddings and InfoNCE gradients, per attention
kernel the device has (`repad` everywhere; `jagged` and, with flash-attn installed, `flash` on
CUDA), in fp32 and (CUDA) under bf16 autocast as the trainer runs it.

The unit tests check the CPU path; this is the check for the CUDA kernels, which CI cannot run
(on a GPU machine with the project's extras). One real MLQA-R hybrid batch, dropout off. Ends with one
JSON line; exits 1 when an fp32 comparison is outside 1e-4 (embeddings, max abs) / 1e-3
(gradients, worst parameter relative in norm), or a bf16 one outside 5e-2 / 1e-1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TOLERANCE = {"fp32": (1e-4, 1e-3), "bf16": (5e-2, 1e-1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="e5-small-offline")
    args = parser.parse_args()
    c.setup_env()
    import torch

    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.models.padding_free.forward import pooled_embeddings
    from hybrid_tui.recipe import DataConfig, ModelConfig, SamplerConfig
    from hybrid_tui.training.loss import info_nce
    from hybrid_tui.training.sampling import BatchSampler

    pairs = load_training_pairs(DataConfig(dataset="mlqa-r"), str(c.data_root()))
    batch = BatchSampler(pairs, 32, SamplerConfig(), seed=0).next_batch()
    queries = [pairs.items[b.item].texts[b.query_lang][0] for b in batch.items]
    passages = [pairs.items[b.item].texts[b.passage_lang][1] for b in batch.items]
    encoder = BiEncoder.load(ModelConfig(spec=args.model), device=args.device).eval()
    features = (encoder.tokenize(queries, "query"), encoder.tokenize(passages, "passage"))
    on_cuda = encoder.device.type == "cuda"
    kinds = ["repad"]
    if on_cuda:
        kinds.append("jagged")
        with contextlib.suppress(ImportError):
            import flash_attn  # noqa: F401

            kinds.append("flash")
    precisions = ["fp32", "bf16"] if on_cuda else ["fp32"]

    def run(attention: str | None, precision: str):
        """Embeddings and gradients; attention None is the padded HF forward."""
        encoder.zero_grad(set_to_none=True)
        bf16 = precision == "bf16"
        with torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            out = []
            for f in features:
                if attention is None:
                    pooled = encoder._padded_pooled(f)
                else:
                    pooled = pooled_embeddings(encoder.model, f, "mean", attention=attention)
                out.append(torch.nn.functional.normalize(pooled.float(), dim=-1))
            info_nce(out[0], out[1], 0.05).backward()
        grads = {n: p.grad.detach().float().clone() for n, p in encoder.named_parameters()}
        return torch.cat(out).detach(), grads

    results, ok = [], True
    for precision in precisions:
        ref_emb, ref_grads = run(None, precision)
        largest = max(float(g.norm()) for g in ref_grads.values())
        for attention in kinds:
            try:
                emb, grads = run(attention, precision)
            except Exception as err:  # noqa: BLE001 - a kernel the device lacks: report it
                results.append({"attention": attention, "precision": precision, "error": repr(err)})
                ok = False
                continue
            emb_delta = float((emb - ref_emb).abs().max())
            worst, worst_name = 0.0, ""
            for name, want in ref_grads.items():
                if float(want.norm()) < 1e-6 * largest:  # zero in exact arithmetic (key biases)
                    continue
                rel = float((grads[name] - want).norm() / want.norm())
                if rel > worst:
                    worst, worst_name = rel, name
            emb_tol, grad_tol = TOLERANCE[precision]
            passed = emb_delta <= emb_tol and worst <= grad_tol
            ok = ok and passed
            results.append(
                {
                    "attention": attention,
                    "precision": precision,
                    "max_embedding_delta": emb_delta,
                    "worst_grad_relative": worst,
                    "worst_grad_parameter": worst_name,
                    "passed": passed,
                }
            )
            print(json.dumps(results[-1]), flush=True)
    summary = {"model": args.model, "device": str(encoder.device), "ok": ok, "results": results}
    print(json.dumps(summary), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
