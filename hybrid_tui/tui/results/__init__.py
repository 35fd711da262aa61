"""Results: one run's per-language tables and why it failed; Compare: runs side by side."""
