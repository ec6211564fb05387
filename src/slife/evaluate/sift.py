"""Classical baseline: SIFT keypoints + Lowe's ratio test (OpenCV), on the original images.

Sparse: each surviving match (target keypoint -> source keypoint) is scored against the ground truth
at the target keypoint. Dense (homography pairs only): a RANSAC homography from the matches predicts
every target pixel, scored exactly like the model's dense flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SiftMatches:
    xy_target: np.ndarray  # (M, 2) continuous pixel coordinates
    xy_source: np.ndarray  # (M, 2)
    keypoints_target: int
    keypoints_source: int


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def sift_match(target: np.ndarray, source: np.ndarray, ratio: float = 0.8, max_features: int = 0) -> SiftMatches:
    """Target -> source SIFT matches passing the ratio test (nearest / second nearest < ``ratio``)."""
    import cv2

    sift = cv2.SIFT_create(nfeatures=max_features)
    kp_t, des_t = sift.detectAndCompute(_gray(target), None)
    kp_s, des_s = sift.detectAndCompute(_gray(source), None)
    empty = np.zeros((0, 2))
    if des_t is None or des_s is None or len(kp_s) < 2:
        return SiftMatches(empty, empty, len(kp_t), len(kp_s))
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_t, des_s, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    # OpenCV keypoint coordinates are 0-based pixel indices: +0.5 for continuous coordinates.
    xy_t = np.array([kp_t[m.queryIdx].pt for m in good], dtype=np.float64).reshape(-1, 2) + 0.5
    xy_s = np.array([kp_s[m.trainIdx].pt for m in good], dtype=np.float64).reshape(-1, 2) + 0.5
    return SiftMatches(xy_t, xy_s, len(kp_t), len(kp_s))


def ransac_homography(matches: SiftMatches, threshold: float = 3.0) -> np.ndarray | None:
    """Target -> source homography (continuous coordinates) by RANSAC, or None with < 4 matches."""
    import cv2

    if len(matches.xy_target) < 4:
        return None
    H, _ = cv2.findHomography(matches.xy_target, matches.xy_source, cv2.RANSAC, threshold)
    return None if H is None or not np.isfinite(H).all() else H


def coverage(points: np.ndarray, xy_eval: np.ndarray, radius: float) -> float:
    """Fraction of ``xy_eval`` points within ``radius`` pixels of any of ``points``."""
    if len(xy_eval) == 0:
        return float("nan")
    if len(points) == 0:
        return 0.0
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(points).query(xy_eval, k=1, distance_upper_bound=radius)
    return float(np.mean(np.isfinite(dist)))
