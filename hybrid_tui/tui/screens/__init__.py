"""One module per screen a user sees: runs, compose, live, results, compare."""
