"""{title_py}: a minimal reference implementation (scaffolded by ``paperclub new``).

Citation: <authors>, "{title_py}", <venue> <year>.

What this toy keeps: <the paper's core idea>. What it drops: <what is out of scope>.
Replace the example below (a least-squares line fit) with the paper's method, section by section.
"""
from __future__ import annotations

import numpy as np

from minimal_impls.common import check_number


def make_data(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Data made in code: y = 2x + 1 plus Gaussian noise."""
    check_number("n", n, low=2, integer=True)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    return x, 2 * x + 1 + noise * rng.standard_normal(n)


def fit(x: np.ndarray, y: np.ndarray, degree: int = 1) -> np.ndarray:
    """Least-squares polynomial coefficients, highest degree first (eq. (1))."""
    return np.polyfit(x, y, degree)


def run(n: int = 200, seed: int = 0) -> dict[str, float]:
    """Fit the line and report the slope error, beside the error of a naive control."""
    x, y = make_data(n, seed=seed)
    slope, intercept = fit(x, y)
    # the control: a naive predictor that ignores x (slope 0)
    return {{"slope": float(slope), "intercept": float(intercept), "slope_error": float(abs(slope - 2)),
             "naive_slope_error": 2.0}}
