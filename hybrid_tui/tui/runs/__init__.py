"""Runs: the run list with its filter and columns, and the actions on a run (tag, note, resume)."""
