"""Names of the baseline matchers every alignment report carries (no torch: the study file's
validation and ``slife --help`` read them)."""

BASELINE_NAMES = ("random-init", "identity", "pixel-match", "pixel-ncc", "ground-truth")  # reserved for the baselines
NULL_BASELINES = ("random-init", "identity", "pixel-match", "pixel-ncc")  # what a model's alignment must beat (the truth is no null)
