"""slife.model: the CroCo model (config, Siamese ViT encoder with 2D RoPE, cross-attending decoder),
checkpoints, exported model folders, and conversion of official CroCo checkpoints.

Import the submodules directly (``slife.model.croco``, ``slife.model.config``, ...); this package
does not import torch on its own. ``from_pretrained(path)`` loads an exported folder (slife.model.export).
"""

from typing import Any


def from_pretrained(path_or_repo_id: Any, map_location: Any = "cpu") -> Any:
    """``(model, config)`` of a folder written by ``slife export`` (see slife.model.export.from_pretrained)."""
    from slife.model.export import from_pretrained as load

    return load(path_or_repo_id, map_location)
