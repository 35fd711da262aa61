"""`hybrid-tui study`: mono vs cross vs hybrid batches over seeds: `run` (the plan, and running or
queueing it), `store` (its runs as small records), `stats` and `paired` (the tests), `report`
(the page and the plot)."""
