"""Scoring a model on retrieval sets: `lareqa` (mono, cross and multilingual mAP and language bias
over LAReQA-style sets), `miracl` (nDCG@10 and Recall@100 per language), `metrics` (the measures,
from the ranks of the relevant items only), `per_query` (each query's figures, for paired tests)
and `search` (corpus encoding with its cache, and the faiss index). Torch and faiss load inside
the functions that encode or search."""
