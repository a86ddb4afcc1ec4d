"""Timing of the quadruped IK (minimal_impls/quadruped_ik.py) against scipy's least_squares.

Kept out of the reference file (as nanoGPT keeps its benchmark out of model.py): a timing depends on
the machine, so it is no claim about the paper; docs/performance.md reports it.

- `leg_ik_scalar`: the same closed form, eqs. (15)-(17), for ONE target in plain `math`. A torch
  call costs microseconds of overhead per operation, more than the whole closed form, so a
  controller that solves one target at a time should use a path like this one.
- `least_squares_ik`: one target by scipy.optimize.least_squares (trust region reflective, the
  solver inside ikpy), bounded by the joint limits and started from the crouch.
- `timing`: seconds per target, best of `repeats`, for the scalar path, the torch path one target
  per call, the torch path batched, and scipy.

    python bench/ik_timing.py          # prints the table
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from minimal_impls import quadruped_ik as qik  # noqa: E402
from minimal_impls.common import check_positive  # noqa: E402

T = TypeVar("T")


# --- the single-target path: eqs. (15)-(17) in `math` ------------------------------------------------

def _single_target(foot: Any) -> tuple[float, float, float] | None:
    """(x, y, z) as floats if `foot` is one finite 3-vector, else None (the batched path decides)."""
    if isinstance(foot, (torch.Tensor, np.ndarray)):
        if foot.shape != (3,) or foot.dtype == bool or foot.dtype == torch.bool:
            return None
        x, y, z = foot.tolist()
    elif (isinstance(foot, (list, tuple)) and len(foot) == 3
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in foot)):
        x, y, z = foot
    else:
        return None
    if not math.isfinite(x + y + z):   # NaN or inf anywhere: the batched path raises the error
        return None
    return float(x), float(y), float(z)


def _wrap1(a: float) -> float:
    """qik._wrap() for one float; the inputs are sums of two atan2's, so one turn at most."""
    return a - 2 * math.pi if a > math.pi else a + 2 * math.pi if a <= -math.pi else a


def _closed_form1(robot: qik.Robot, x: float, y: float, z: float, k: float, h: float) -> tuple[float, float, float]:
    """qik.closed_form() for one target with `math`: eqs. (17), (16), (15) in that order."""
    l1, l2, l3 = robot.l1, robot.l2, robot.l3
    a2 = x * x + y * y - l1 * l1
    a = h * math.sqrt(max(a2, 0.0))
    d = min(1.0, max(-1.0, (a2 + z * z - l2 * l2 - l3 * l3) / (2 * l2 * l3)))
    t3 = math.atan2(k * math.sqrt(1 - d * d), d)                                         # eq. (17)
    t2 = math.atan2(z, a) - math.atan2(l3 * math.sin(t3), l2 + l3 * math.cos(t3))       # eq. (16)
    t1 = math.atan2(y, x) - math.atan2(-a, -l1)                                          # eq. (15)
    return _wrap1(t1), _wrap1(t2), t3


def _within1(q: tuple[float, float, float], lim: tuple) -> bool:
    return (lim[0][0] - 1e-9 <= q[0] <= lim[0][1] + 1e-9 and lim[1][0] - 1e-9 <= q[1] <= lim[1][1] + 1e-9
            and lim[2][0] - 1e-9 <= q[2] <= lim[2][1] + 1e-9)


def leg_ik_scalar(robot: qik.Robot, foot: Any, leg: int, knee: str = "paper", hip: str = "below",
                  check: bool = True, fallback: bool = True) -> Any:
    """`qik.leg_ik(robot, foot, leg=leg, ...)` for one (3,) target, in plain `math`: same answers,
    same flags, same errors (anything unusual is handed to the batched path)."""
    p = _single_target(foot)
    if p is None or type(leg) is not int or not 1 <= leg <= 4:
        return qik.leg_ik(robot, foot, leg=leg, knee=knee, hip=hip, check=check, fallback=fallback)
    x, y, z = p
    i = leg - 1
    k, h = qik._branch_signs(knee, hip, qik.KNEE[i], qik.SIDE[i])
    lim = robot._leg_limits[i]  # type: ignore[attr-defined]
    lo, hi = robot.reach
    a2 = x * x + y * y - robot.l1 * robot.l1
    dist = math.sqrt(max(a2, 0.0) + z * z)
    ok = max(dist - hi, lo - dist, robot.l1 - math.sqrt(x * x + y * y)) <= 1e-12 * max(hi, 1.0)
    q = _closed_form1(robot, x, y, z, k, h)
    legal = ok and _within1(q, lim)
    if ok and not legal and fallback:
        for kk, hh in ((k, -h), (-k, h), (-k, -h)):
            alt = _closed_form1(robot, x, y, z, kk, hh)
            if _within1(alt, lim):
                q, legal = alt, True
                break
    if check:
        if not legal:   # rare: let the batched path write the error message
            return qik.leg_ik(robot, torch.tensor([x, y, z], dtype=qik.DTYPE)[None], leg=leg, knee=knee, hip=hip,
                              fallback=fallback)[0]
        return torch.from_numpy(np.array(q))       # 3x cheaper than torch.tensor(q) for 3 floats
    return qik.IKResult(torch.from_numpy(np.array(q if ok else (math.nan,) * 3)), torch.tensor(ok),
                        torch.tensor(legal))


# --- scipy's least_squares, the numeric baseline --------------------------------------------------------

def _fk_numpy(robot: qik.Robot, q: np.ndarray) -> np.ndarray:
    """Eq. (14) written out, numpy, one leg: the residual function scipy's solver calls."""
    s1, c1 = math.sin(q[0]), math.cos(q[0])
    a = robot.l2 * math.cos(q[1]) + robot.l3 * math.cos(q[1] + q[2])
    b = robot.l2 * math.sin(q[1]) + robot.l3 * math.sin(q[1] + q[2])
    return np.array([-robot.l1 * c1 + a * s1, -robot.l1 * s1 - a * c1, b])


def least_squares_ik(robot: qik.Robot, foot: Any, leg: int) -> np.ndarray:
    """One target (3,) of leg `leg` (1-4) by scipy.optimize.least_squares, within the joint limits."""
    from scipy.optimize import least_squares

    qik._check_leg(leg)
    target = np.asarray(foot, dtype=float)
    lim = np.array(robot._leg_limits[leg - 1])  # type: ignore[attr-defined]
    x0 = np.clip(qik.crouch()[leg - 1].numpy(), lim[:, 0], lim[:, 1])
    res = least_squares(lambda q: _fk_numpy(robot, q) - target, x0, bounds=(lim[:, 0], lim[:, 1]),
                        xtol=1e-12, ftol=1e-12, gtol=1e-12)
    return res.x


# --- the timing harness ---------------------------------------------------------------------------------

def _best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Fastest of `repeats` runs (the least disturbed by whatever else shares the machine), and
    the result of the last one."""
    best, out = math.inf, None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out  # type: ignore[return-value]


def timing(robot: qik.Robot | None = None, n_single: int = 200, n_scipy: int = 30, n_batch: int = 2000,
           repeats: int = 5, leg: int = 2, seed: int = 0) -> dict[str, float]:
    """Seconds per target (best of `repeats`, on the CPU) for the scalar path one target per call, the
    torch path one target per call (a (1, 3) batch: the naive way), the torch path batched, and
    scipy's least_squares one target per call, on the same random targets; and the ratios."""
    for name, value in (("n_single", n_single), ("n_scipy", n_scipy), ("n_batch", n_batch), ("repeats", repeats)):
        check_positive(name, value, integer=True)
    robot = robot or qik.Robot()
    _, feet = qik.sample_reachable(robot, max(n_single, n_batch, n_scipy), seed=seed, device="cpu")
    targets = feet[:, leg - 1]
    rows = list(targets[:n_single])
    batch_rows = [t[None] for t in rows[:max(1, n_single // 4)]]        # ~1 ms each: fewer suffice
    batch = targets[:n_batch].clone()
    t_single, _ = _best_time(lambda: [leg_ik_scalar(robot, t, leg) for t in rows], repeats)
    t_torch1, _ = _best_time(lambda: [qik.leg_ik(robot, t, leg=leg) for t in batch_rows], max(2, repeats // 2))
    t_batch, _ = _best_time(lambda: qik.leg_ik(robot, batch, leg=leg), 3 * repeats)
    scipy_targets = targets[:n_scipy].numpy()
    t_scipy, _ = _best_time(lambda: [least_squares_ik(robot, t, leg) for t in scipy_targets], max(2, repeats // 2))
    out = {"single_s": t_single / n_single, "torch_single_s": t_torch1 / len(batch_rows),
           "batched_s": t_batch / n_batch, "scipy_s": t_scipy / n_scipy}
    out.update(single_call_speedup=out["scipy_s"] / out["single_s"],
               torch_single_call_speedup=out["scipy_s"] / out["torch_single_s"],
               batched_speedup=out["scipy_s"] / out["batched_s"])
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    t = timing()
    print(f"closed form, 1 per call (math):  {1e6 * t['single_s']:9.2f} µs  ({t['single_call_speedup']:.0f}× scipy)")
    print(f"closed form, 1 per call (torch): {1e6 * t['torch_single_s']:9.2f} µs  "
          f"({t['torch_single_call_speedup']:.0f}× scipy)")
    print(f"closed form, batched (torch):    {1e6 * t['batched_s']:9.2f} µs  ({t['batched_speedup']:.0f}× scipy)")
    print(f"scipy least_squares, 1 per call: {1e6 * t['scipy_s']:9.2f} µs")
