"""Compose: the recipe form, its mix editor and model check, saved recipes; starts or queues the run."""
