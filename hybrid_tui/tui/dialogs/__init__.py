"""Modal dialogs the screens share: confirm, delete a run, a text prompt, the keys help."""
