"""slife.model: the CroCo model (config, Siamese ViT encoder with 2D RoPE, cross-attending decoder),
checkpoints, and conversion of official CroCo checkpoints.

Import the submodules directly (``slife.model.croco``, ``slife.model.config``, ...); this package
does not import torch on its own.
"""
