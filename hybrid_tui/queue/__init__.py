"""The job queue: many runs on one box, one per GPU (or N at once on the CPU), in priority order.

`store` (the jobs table in `<state>/queue.db`), `grid` (`--set` value grids), `submit` (what
`queue add` does), `scheduler` (the loop that starts, adopts and ends jobs), `daemon` (the one
detached scheduler process of a state dir: start, stop, lock), `describe` (the words for a job both
faces show; what the queue commands print is `cli.queue_output`). Stdlib only at import: `hybrid-tui queue ls` must not load MLflow or torch.
"""
