"""The Textual app: runs, compose, live curves, per-language results and comparisons."""
