"""What the CLI's and the app's run lists share, so `hybrid-tui runs` and the runs screen agree:
`filter` (`--filter` and `/`), `columns` (which recipe fields show and how they sort), `diff` (what
differs between runs' recipes), `labels` (tags, notes, which runs may be deleted), `failure` (why a
FAILED run failed), `local_files` (a deleted run's folder), and `files` (where a run's local files
live; every layer needs it, so it is bound for the top-level `paths`)."""
