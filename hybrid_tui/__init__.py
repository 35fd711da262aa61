"""hybrid-tui: train and evaluate multilingual dense retrievers with hybrid batches."""

from __future__ import annotations

__version__ = "0.1.0"
