"""Dense search over corpora too big to re-encode: an on-disk encode cache and a faiss index.

A corpus is encoded once into `<embedding cache>/<key>/embeddings.npy` (`embeddings_dir`), a memory-mapped
float16 (or float32) matrix, `key` hashing the model's weights and conventions, the corpus
content and the dtype. Encoding goes in chunks of rows; after each chunk the rows are flushed and
`state.json` (atomic) records how many chunks are complete, so an interrupted encode resumes at
the first incomplete chunk. A lock file beside the entry (`<key>.lock`, the `filelock` library)
makes a second process that wants the same corpus (two queued jobs evaluating MIRACL at once)
wait and then read the finished entry, instead of re-creating the matrix under the first.

The index is chosen by size: exact inner product (`IndexFlatIP`) up to `FLAT_LIMIT` rows, HNSW
(float16 vectors) above it on CPU, IVF-flat above it on GPU (HNSW has no GPU form); faiss on GPU
when the installed faiss has GPUs. faiss and torch are imported inside functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hybrid_tui.atomic_files import atomic_write_text, exclusive
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.paths import embeddings_root
from hybrid_tui.progress import ProgressFn

CHUNK_ROWS = 16_384
STORE_DTYPES = ("float16", "float32")
FLAT_LIMIT = 1_000_000
_ADD_ROWS = 65_536  # rows converted to float32 at a time when filling an index
_SEARCH_ROWS = 1_024


def model_fingerprint(encoder: Any) -> str:
    """A hash of the encoder's weights and conventions: a trained step and its base never share
    a cache entry, and a packaged name, folder or run id with the same weights do."""
    import torch

    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(encoder.conventions.as_dict(), sort_keys=True).encode())
    for name, tensor in encoder.model.state_dict().items():
        digest.update(name.encode())
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_key(model_fp: str, corpus_fp: str, dtype: str) -> str:
    return hashlib.blake2b(f"{model_fp}|{corpus_fp}|{dtype}".encode(), digest_size=16).hexdigest()


def embeddings_dir(key: str, cache_root: Path | None = None) -> Path:
    """`$HYBRID_TUI_EMBEDDINGS/<key>`, else `<model cache>/corpus-embeddings/<key>`: big corpora
    need a big disk, so the cache can live apart from the models."""
    return Path(cache_root or embeddings_root()) / key


def encode_corpus(
    encoder: Any,
    passages: Sequence[str],
    key: str,
    cache_root: Path | None = None,
    dtype: str = "float16",
    chunk_rows: int = CHUNK_ROWS,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    description: str = "Encoding corpus",
) -> np.ndarray:
    """The passages' embeddings, read-only memory-mapped from the cache (encoded where missing).

    `encoder.encode(texts, "passage", batch_size=...)` gives the rows. A cache entry records its
    row count and chunk size; an entry for other rows is an error (a hash collision or a
    hand-edited cache), never silently reused.
    """
    if dtype not in STORE_DTYPES:
        raise HybridTuiError(f"corpus dtype {dtype!r}: choose {' or '.join(STORE_DTYPES)}")
    if not passages:
        raise HybridTuiError("the corpus has no passages to encode")
    folder = embeddings_dir(key, cache_root)

    def say_waiting() -> None:
        if progress is not None:
            progress(f"{description} (waiting: another process is encoding it)", 0, len(passages))

    with exclusive(folder, on_wait=say_waiting):
        return _encode_into(
            encoder, passages, folder, dtype, chunk_rows, batch_size, progress, description
        )


def _encode_into(
    encoder: Any,
    passages: Sequence[str],
    folder: Path,
    dtype: str,
    chunk_rows: int,
    batch_size: int,
    progress: ProgressFn | None,
    description: str,
) -> np.ndarray:
    """`encode_corpus`'s work, under its lock."""
    state_file, matrix_file = folder / "state.json", folder / "embeddings.npy"
    state = json.loads(state_file.read_text()) if state_file.is_file() else None
    if state is not None and not matrix_file.is_file():
        state = None
    rows = len(passages)
    if state is not None and state["rows"] != rows:
        raise HybridTuiError(
            f"encode cache {folder} holds {state['rows']} rows, the corpus has {rows}; "
            "remove that folder to re-encode"
        )
    chunk_rows = state["chunk_rows"] if state else chunk_rows
    chunks = -(-rows // chunk_rows)
    done = state["chunks_done"] if state else 0
    matrix = np.load(matrix_file, mmap_mode="r+") if state else None
    if progress is not None:
        progress(description, min(rows, done * chunk_rows), rows)
    for chunk in range(done, chunks):
        start, stop = chunk * chunk_rows, min(rows, (chunk + 1) * chunk_rows)

        def report(_d: str, n: int, _t: int, offset: int = start) -> None:
            if progress is not None:
                progress(description, offset + n, rows)

        block = encoder.encode(
            list(passages[start:stop]), "passage", batch_size=batch_size, progress=report
        )
        if matrix is None:
            folder.mkdir(parents=True, exist_ok=True)
            matrix = np.lib.format.open_memmap(
                matrix_file, mode="w+", dtype=dtype, shape=(rows, block.shape[1])
            )
        matrix[start:stop] = block.astype(dtype)
        matrix.flush()
        state = {"rows": rows, "dim": int(matrix.shape[1]), "dtype": dtype}
        state |= {
            "chunk_rows": chunk_rows,
            "chunks_done": chunk + 1,
            "complete": chunk + 1 == chunks,
        }
        atomic_write_text(state_file, json.dumps(state))
        if progress is not None:
            progress(description, stop, rows)
    del matrix
    return np.load(matrix_file, mmap_mode="r")


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def index_kind(rows: int, gpu: bool, flat_limit: int = FLAT_LIMIT) -> str:
    """`flat` (exact) up to `flat_limit` rows, else `hnsw` on CPU or `ivf` on GPU."""
    if rows <= flat_limit:
        return "flat"
    return "ivf" if gpu else "hnsw"


def build_index(
    embeddings: np.ndarray,
    flat_limit: int = FLAT_LIMIT,
    use_gpu: bool | None = None,
    progress: ProgressFn | None = None,
    description: str = "Indexing corpus",
) -> tuple[Any, str]:
    """An inner-product faiss index over the rows (filled in float32 slices) and its kind."""
    import faiss

    rows, dim = embeddings.shape
    gpu = gpu_available() if use_gpu is None else use_gpu
    kind = index_kind(rows, gpu, flat_limit)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":  # vectors kept as float16: lossless for a float16 cache, half the RAM
        fp16 = faiss.ScalarQuantizer.QT_fp16
        index = faiss.IndexHNSWSQ(dim, fp16, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction, index.hnsw.efSearch = 80, 256
    else:
        lists = int(min(65_536, max(1, 4 * np.sqrt(rows))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = min(lists, 64)
    if gpu and kind != "hnsw":
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    if kind == "hnsw" and not index.is_trained:
        index.train(np.ascontiguousarray(embeddings[:_ADD_ROWS], dtype=np.float32))
    if kind == "ivf":
        sample = np.random.default_rng(0).choice(rows, min(rows, 64 * lists), replace=False)
        index.train(np.ascontiguousarray(embeddings[np.sort(sample)], dtype=np.float32))
    for start in range(0, rows, _ADD_ROWS):
        index.add(np.ascontiguousarray(embeddings[start : start + _ADD_ROWS], dtype=np.float32))
        if progress is not None:
            progress(description, min(rows, start + _ADD_ROWS), rows)
    return index, kind


def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-`k` (scores, row ids) per query, best first; ids are -1 past the corpus's end."""
    k = min(k, index.ntotal)
    scores = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), _SEARCH_ROWS):
        block = np.ascontiguousarray(queries[start : start + _SEARCH_ROWS], dtype=np.float32)
        scores[start : start + len(block)], ids[start : start + len(block)] = index.search(block, k)
    return scores, ids
