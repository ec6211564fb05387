"""slife.align: the Correspondence Alignment Score, test sets, matrices, emergence, GT alignment.

See docs/align.md. Names are imported lazily (PEP 562) so that ``slife --help``, which imports
``slife.align.cli``, does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "slife.align.analysis": (
        "AttentionCache", "Ranked", "alignment_matrix", "alignment_report", "emergence_curve",
        "emergence_report", "gt_alignment", "gt_alignment_chance", "ranked_cas_per_pair", "standard_baselines",
    ),
    "slife.align.bootstrap": ("Interval", "bootstrap", "contrast_interval", "mean_interval", "ratio_interval"),
    "slife.align.drivers": ("AlignConfig", "similarity"),
    "slife.align.features": ("model_features", "pixel_features", "sample_cells", "similarity_report"),
    "slife.align.intervals": ("cas_interval", "gt_interval", "gt_intervals", "matrix_intervals"),
    "slife.align.similarity": ("cknna", "linear_cka", "mutual_knn", "unbiased_cka"),
    "slife.align.cas": ("cas", "cas_from_sets", "cas_per_layer", "cas_per_pair", "chance_cas", "topk_sets"),
    "slife.align.plots": ("plot_emergence", "plot_matrix"),
    "slife.align.matchers": (
        "CheckpointMatcher", "IdentityMatcher", "ModelMatcher", "OracleMatcher", "attention_for_checkpoint",
        "PixelMatcher", "ReadProtocol", "checkpoint_matcher", "model_attention", "random_init_matcher",
    ),
    "slife.align.testset": ("TestSet", "TestSetError", "make_testset", "testset_grid"),
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'slife.align' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
