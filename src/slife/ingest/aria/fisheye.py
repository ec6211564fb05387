"""Project Aria's FisheyeRadTanThinPrism camera model ("Fisheye624"), written from its documented formula.

Parameters (15): ``f, cx, cy, k0..k5, p0, p1, s0..s3``. A camera-frame point (x, y, z) (OpenCV axes)
projects as::

    a, b = x / z, y / z;  r = sqrt(a² + b²);  θ = atan2(r, 1)            (angle to the optical axis)
    θd = θ (1 + k0 θ² + k1 θ⁴ + k2 θ⁶ + k3 θ⁸ + k4 θ¹⁰ + k5 θ¹²)
    u = θd / r · (a, b)                     (u = (a, b) at r = 0);  ρ² = |u|²
    u' = u + (p0 (2 u0² + ρ²) + 2 p1 u0 u1,  p1 (2 u1² + ρ²) + 2 p0 u0 u1)  (tangential)
           + (s0 ρ² + s1 ρ⁴,  s2 ρ² + s3 ρ⁴)                                  (thin prism)
    pixel = f u' + (cx, cy)

Aria's own files put pixel centres at integer coordinates; slife's continuous convention puts them at
+0.5 (docs/ARCHITECTURE.md). :func:`to_stored_pixels` converts a calibration of an image of side
``calib_size`` to the continuous pixels of a stored image of side ``size``. :meth:`unproject` inverts
the map with Newton's method on u' -> u, then the radial polynomial on θ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAME = "FisheyeRadTanThinPrism"
N_PARAMS = 15


@dataclass(frozen=True)
class Fisheye624:
    """One FisheyeRadTanThinPrism camera; ``params`` (15,) in the pixels it projects to."""

    params: np.ndarray

    def __post_init__(self) -> None:
        p = np.asarray(self.params, dtype=np.float64).reshape(-1)
        if p.shape != (N_PARAMS,) or not np.isfinite(p).all() or not p[0] > 0:
            raise ValueError(f"{NAME} needs {N_PARAMS} finite parameters with f > 0, got {p.tolist()}")
        object.__setattr__(self, "params", p)

    @property
    def f(self) -> float:
        return float(self.params[0])

    @property
    def centre(self) -> np.ndarray:
        return self.params[1:3]

    def _radial(self, theta: np.ndarray) -> np.ndarray:
        """θd / θ = 1 + k0 θ² + ... + k5 θ¹²."""
        t2 = theta * theta
        out = np.zeros_like(theta)
        for k in self.params[8:2:-1]:  # Horner from k5 down to k0
            out = (out + k) * t2
        return 1.0 + out

    def _distort(self, u: np.ndarray) -> np.ndarray:
        """Tangential + thin-prism terms added to radially distorted normalised points (M, 2)."""
        p0, p1, s0, s1, s2, s3 = self.params[9:15]
        u0, u1 = u[:, 0], u[:, 1]
        r2 = u0 * u0 + u1 * u1
        dx = p0 * (2 * u0 * u0 + r2) + 2 * p1 * u0 * u1 + s0 * r2 + s1 * r2 * r2
        dy = p1 * (2 * u1 * u1 + r2) + 2 * p0 * u0 * u1 + s2 * r2 + s3 * r2 * r2
        return u + np.stack([dx, dy], axis=1)

    def theta(self, points: np.ndarray) -> np.ndarray:
        """Angle (radians) between each camera-frame point (M, 3) and the optical axis."""
        p = np.asarray(points, dtype=np.float64)
        return np.arctan2(np.hypot(p[:, 0], p[:, 1]), p[:, 2])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (M, 2) of camera-frame points (M, 3); only points in front (z > 0) are meaningful."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        rho = np.hypot(p[:, 0], p[:, 1])
        theta = np.arctan2(rho, p[:, 2])
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(rho > 0, theta * self._radial(theta) / rho, 1.0 / np.where(p[:, 2] != 0, p[:, 2], 1.0))
        u = p[:, :2] * scale[:, None]  # rho = 0: (a, b) = (0, 0) on the axis
        return self.f * self._distort(u) + self.centre

    def unproject(self, pixels: np.ndarray, iterations: int = 20) -> np.ndarray:
        """Unit rays (M, 3) in the camera frame of pixels (M, 2) (inverse of :meth:`project`)."""
        target = (np.asarray(pixels, dtype=np.float64).reshape(-1, 2) - self.centre) / self.f
        u = target.copy()
        eps = 1e-7
        for _ in range(iterations):  # Newton on u -> distort(u) (a 2x2 Jacobian per point, by differences)
            res = self._distort(u) - target
            jx = (self._distort(u + [eps, 0.0]) - self._distort(u)) / eps
            jy = (self._distort(u + [0.0, eps]) - self._distort(u)) / eps
            det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
            du0 = (jy[:, 1] * res[:, 0] - jy[:, 0] * res[:, 1]) / det
            du1 = (-jx[:, 1] * res[:, 0] + jx[:, 0] * res[:, 1]) / det
            u = u - np.stack([du0, du1], axis=1)
        theta_d = np.hypot(u[:, 0], u[:, 1])
        theta = theta_d.copy()
        for _ in range(iterations):  # Newton on θ (1 + k0 θ² + ...) = θd
            t2 = theta * theta
            f = theta * self._radial(theta) - theta_d
            df = np.ones_like(theta)
            for i, k in enumerate(self.params[3:9], start=1):
                df += (2 * i + 1) * k * t2**i
            theta = theta - f / df
        with np.errstate(divide="ignore", invalid="ignore"):
            direction = np.where(theta_d[:, None] > 0, u / theta_d[:, None], 0.0)
        rays = np.concatenate([direction * np.sin(theta)[:, None], np.cos(theta)[:, None]], axis=1)
        return rays

    def scaled(self, factor: float) -> "Fisheye624":
        """The same lens on an image resized by ``factor`` (continuous pixels: f and c scale)."""
        p = self.params.copy()
        p[:3] *= factor
        return Fisheye624(p)

    def linear_intrinsics(self) -> np.ndarray:
        """3 x 3 K of the model's linear part (f, f, cx, cy): what pinhole code sees near the centre."""
        f, cx, cy = self.params[:3]
        return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def to_stored_pixels(params: np.ndarray, calib_size: float, size: float) -> Fisheye624:
    """Aria parameters for an image of side ``calib_size`` (integer pixel centres) -> the model in the
    continuous pixels of the stored image of side ``size``: ``f' = f s``, ``c' = (c + 0.5) s``."""
    p = np.asarray(params, dtype=np.float64).copy()
    p[1:3] += 0.5
    return Fisheye624(p).scaled(size / calib_size)


def to_aria_pixels(model: Fisheye624, size: float, calib_size: float) -> np.ndarray:
    """Inverse of :func:`to_stored_pixels`: the 15 Aria parameters for an image of side ``calib_size``."""
    p = model.scaled(calib_size / size).params.copy()
    p[1:3] -= 0.5
    return p
