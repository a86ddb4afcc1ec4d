"""Small helpers shared by the implementations: seeding, device choice, the digits data.

Kept deliberately tiny; anything paper-specific lives in that paper's own file.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a torch Generator for explicit sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def device() -> torch.device:
    """The GPU when one is present, else the CPU (all defaults are sized for a laptop CPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 8×8 digits (shipped with the package, no download), scaled to [0, 1].

    Returns ``x_train, y_train, x_test, y_test`` with images shaped (N, 8, 8), float32, and a
    stratified split that is the same for every paper that asks for the same seed.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_te), torch.from_numpy(y_te)


def check_shape(name: str, tensor: torch.Tensor, expected: tuple[int | None, ...]) -> None:
    """Raise a one-line ValueError when ``tensor`` does not have the ``expected`` shape (None = any)."""
    shape = tuple(tensor.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))
    if not ok:
        want = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {shape}")


# --------------------------------------------------------------------------------- argument checks
# The house style for bad input: one line naming the argument, what was expected, what was given.

def check_arg(ok: bool, name: str, expected: str, got: object) -> None:
    """Raise ``ValueError("<name>: expected <expected>, got <got!r>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name}: expected {expected}, got {got!r}")


def check_number(name: str, value: object, *, low: float | None = None, high: float | None = None,
                 integer: bool = False, strict_low: bool = False) -> None:
    """A real number (or an integer with ``integer=True``) within [low, high]; bools are rejected.

    ``strict_low=True`` makes the lower bound exclusive, so ``check_number("lr", lr, low=0,
    strict_low=True)`` reads "a positive number".
    """
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and bool(np.isfinite(value))
    if ok and low is not None:
        ok = value > low if strict_low else value >= low
    if ok and high is not None:
        ok = value <= high
    what = "an integer" if integer else "a number"
    if low == 0 and strict_low and high is None:
        want = f"a positive {'integer' if integer else 'number'}"
    elif low is not None and high is not None:
        want = f"{what} in {'(' if strict_low else '['}{low}, {high}]"
    elif low is not None:
        want = f"{what} {'>' if strict_low else '>='} {low}"
    elif high is not None:
        want = f"{what} <= {high}"
    else:
        want = what
    check_arg(ok, name, want, value)


def check_positive(name: str, value: object, *, integer: bool = False) -> None:
    """A number > 0 (an integer > 0 with ``integer=True``)."""
    check_number(name, value, low=0, strict_low=True, integer=integer)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """One of a fixed set of strings."""
    check_arg(value in choices, name, "one of " + ", ".join(map(repr, choices)), value)
