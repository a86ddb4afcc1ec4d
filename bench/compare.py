"""Each implementation side by side with the library a reader would pick instead.

    python bench/compare.py [--quick] [--repeat 5]

One function per comparison; each returns a :class:`Row` (what, ours, theirs, speed ratio, an accuracy
figure, a note). Timings are taken in one process, interleaved (ours, theirs, theirs, ours, ...) after a
warm-up call each, and reduced to medians, so a busy machine slows both sides alike. The speed ratio is
*their time / our time*: above 1 ours is faster; for the ViT it is our training throughput over timm's.

The libraries are optional (the ``bench`` extra: opencv-python-headless, filterpy, ikpy, pymunk); a
missing one gives a row that says it was skipped, never an error. timm and open_clip need torchvision,
which does not install beside the project's torch, so they run in a second interpreter
(``.venv-bench-tv``, or ``$PAPERCLUB_BENCH_TV_PYTHON``) through ``bench/torch_libs.py``, which imports
``minimal_impls.vit`` and ``minimal_impls.clip`` from this checkout and times both sides there.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TV_PYTHON = ROOT / ".venv-bench-tv" / "bin" / "python"
INSTALL_HINT = "pip install -e '.[bench]'"


@dataclass
class Row:
    what: str            # the comparison, e.g. "Lucas–Kanade vs OpenCV calcOpticalFlowPyrLK"
    ours: str            # our time (or throughput), with the unit and what was timed
    theirs: str          # the library's, same unit
    ratio: float | None  # their time / our time (> 1: ours faster); None when skipped
    accuracy: str        # how faithful: error against ground truth or against the library
    note: str            # conditions, and why ours is slower or less accurate where it is
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Missing(Exception):
    """An optional library is not installed: the comparison becomes a skip row."""


def require(module: str, package: str | None = None) -> Any:
    """Import an optional library, or raise Missing naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # also raised when sys.modules[module] is None (the tests use that)
        raise Missing(f"{package or module} is not installed ({INSTALL_HINT})") from exc


def skip_row(what: str, why: str) -> Row:
    return Row(what, "—", "—", None, "—", f"skipped: {why}", skipped=True)


# ----------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------

def interleaved(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int,
                warmup: bool = True) -> tuple[float, float, Any, Any]:
    """Median wall time of each callable over `repeat` interleaved runs, and each one's last result.

    The order alternates (ours first, then theirs first, ...), so a burst of load from whatever else
    shares the machine lands on both sides. One untimed warm-up call each (imports, caches, JIT).
    """
    fns = {"ours": ours, "theirs": theirs}
    out: dict[str, Any] = {}
    if warmup:
        for key, fn in fns.items():
            out[key] = fn()
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    for i in range(max(1, repeat)):
        for key in (("ours", "theirs") if i % 2 == 0 else ("theirs", "ours")):
            t0 = time.perf_counter()
            out[key] = fns[key]()
            times[key].append(time.perf_counter() - t0)
    return statistics.median(times["ours"]), statistics.median(times["theirs"]), out["ours"], out["theirs"]


def fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return "—"
    return f"{ratio:.0f}×" if ratio >= 100 else f"{ratio:.1f}×" if ratio >= 10 else \
        f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.3f}×"


# ----------------------------------------------------------------------------------------------------
# 1. Lucas–Kanade vs OpenCV's calcOpticalFlowPyrLK
# ----------------------------------------------------------------------------------------------------

def _textured_image() -> np.ndarray:
    """scikit-image's bundled `grass` photo (512², packaged, no download), lightly blurred, 0–255."""
    from scipy import ndimage
    from skimage import data

    img = ndimage.gaussian_filter(data.grass().astype(float), 1.0)
    return (img - img.min()) / (img.max() - img.min()) * 255.0


def _shifted(img: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """img translated by `shift` = (dx, dy) px, exactly for its band-limited interpolant (Fourier)."""
    from scipy import ndimage

    return np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(img), (shift[1], shift[0]))).real


def compare_lucas_kanade(quick: bool = False, repeat: int = 5) -> Row:
    what = "Lucas–Kanade optic flow vs OpenCV `calcOpticalFlowPyrLK`"
    try:
        cv2 = require("cv2", "opencv-python-headless")
    except Missing as exc:
        return skip_row(what, str(exc))
    from minimal_impls.optical_flow_odometry import lucas_kanade

    patch, half = 31, 15
    img = _textured_image()
    step = 200 if quick else 40
    grid = np.arange(48, img.shape[0] - 48, step)
    points = np.array([(x, y) for y in grid for x in grid], dtype=float)        # patch centres (x, y)
    rng = np.random.default_rng(0)
    shifts = rng.uniform(-2.5, 2.5, (2 if quick else 8, 2))                    # known (dx, dy), px
    # Both sides see the same 8-bit frames (OpenCV's tracker takes 8-bit images only).
    to8 = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)  # noqa: E731
    frames = [(to8(img), to8(_shifted(img, s))) for s in shifts]

    corner = (points - half).astype(int)

    def crops(a: np.ndarray) -> np.ndarray:  # every patch at once: a gather from the image's windows
        windows = np.lib.stride_tricks.sliding_window_view(a, (patch, patch))
        return windows[corner[:, 1], corner[:, 0]].astype(float) / 255.0

    def ours() -> np.ndarray:  # one batched call per frame pair: every patch's flow at once
        return np.stack([lucas_kanade(crops(a), crops(b), window=None, levels=2, iterations=3, forward_backward=None)[0]
                         for a, b in frames])

    start = points.astype(np.float32)[:, None, :]

    def theirs() -> np.ndarray:  # same window (31 px), same 2 pyramid levels, OpenCV's default stopping
        out = []
        for a, b in frames:
            nxt, status, _ = cv2.calcOpticalFlowPyrLK(a, b, start, None, winSize=(patch, patch), maxLevel=1)
            out.append(np.where(status.astype(bool), nxt[:, 0] - points, np.nan))
        return np.stack(out)

    t_ours, t_theirs, f_ours, f_theirs = interleaved(ours, theirs, 1 if quick else repeat, warmup=not quick)
    truth = shifts[:, None, :]
    rms = lambda f: float(np.sqrt(np.nanmean(np.sum((f - truth) ** 2, axis=-1))))  # noqa: E731
    lost = lambda f: int(np.isnan(f[..., 0]).sum())  # noqa: E731
    n = len(frames) * len(points)
    ratio = t_theirs / t_ours
    note = (f"`optical_flow_odometry.lucas_kanade` on {n} patches ({patch}×{patch} px, 2 levels) of the "
            f"packaged `grass` image, each pair shifted by a known sub-pixel (dx, dy) in ±2.5 px; 8-bit frames "
            f"for both. Ours: 3 fixed iterations per level, numpy float64, batched over patches; OpenCV: up to 30 "
            f"iterations (its default stop), C++.")
    if ratio < 1:
        note += (" Ours is slower: each iteration is a dozen whole-array numpy passes in float64 where OpenCV runs "
                 "fixed-point SIMD C++. The warp is a 2-D gather (one (H+1)×(W+1) block per patch, then a shared "
                 "bilinear blend), the pyramid a 5-tap binomial, and the batch runs in cache-sized blocks; what is "
                 "left of the gap is numpy's per-pass cost.")
    return Row(what, f"{fmt_time(t_ours / n)} per patch", f"{fmt_time(t_theirs / n)} per patch", ratio,
               f"RMS end-point error {rms(f_ours):.4f} px (ours) vs {rms(f_theirs):.4f} px (OpenCV); "
               f"unreliable/lost: {lost(f_ours)} vs {lost(f_theirs)} of {n}", note)


# ----------------------------------------------------------------------------------------------------
# 2. The EKF vs filterpy's ExtendedKalmanFilter
# ----------------------------------------------------------------------------------------------------

def _ekf_problem(quick: bool) -> tuple:
    """The exact arguments `estimate_height` hands to `extended_kalman_filter` in the notebook's run()."""
    from minimal_impls import optical_flow_odometry as ofo

    captured: dict[str, tuple] = {}
    original = ofo.extended_kalman_filter

    def spy(*args: Any) -> Any:
        captured["args"] = args
        return original(*args)

    ofo.extended_kalman_filter = spy   # estimate_height looks the name up at call time
    try:
        if quick:
            res = ofo.run(ofo.FlightConfig(duration=10.0), n_flights=1, settle_periods=1.0)
        else:
            res = ofo.run(n_flights=8)
    finally:
        ofo.extended_kalman_filter = original
    return captured["args"], res


def compare_ekf(quick: bool = False, repeat: int = 3) -> Row:
    what = "extended Kalman filter vs filterpy `ExtendedKalmanFilter`"
    try:
        ekf_mod = require("filterpy.kalman", "filterpy")
    except Missing as exc:
        return skip_row(what, str(exc))
    from minimal_impls.optical_flow_odometry import extended_kalman_filter

    args, res = _ekf_problem(quick)
    u, z, x0, p0, a, b, q, r, h_fn, h_jac = args
    n_batch, steps, m = z.shape
    n = a.shape[0]
    r_full = np.broadcast_to(np.asarray(r, dtype=float), (n_batch, steps, m, m))
    x0_full = np.broadcast_to(np.asarray(x0, dtype=float), (n_batch, n))
    hj = lambda x: h_jac(x[None])[0]   # noqa: E731  our functions are batched; filterpy's see one state
    hx = lambda x: h_fn(x[None])[0]    # noqa: E731

    def ours() -> np.ndarray:
        return extended_kalman_filter(*args)[0]

    def theirs() -> np.ndarray:  # the same model: x+ = A x + B u, z = h(x), Joseph-form update
        out = np.empty((n_batch, steps, n))
        for i in range(n_batch):
            f = ekf_mod.ExtendedKalmanFilter(dim_x=n, dim_z=m, dim_u=u.shape[2])
            f.x, f.P, f.F, f.B, f.Q = x0_full[i].copy(), p0.copy(), a, b, q
            for k in range(steps):
                if k > 0:
                    f.predict(u=u[i, k - 1])
                if np.all(np.isfinite(z[i, k])):
                    f.update(z[i, k], hj, hx, R=r_full[i, k])
                out[i, k] = f.x
        return out

    t_ours, t_theirs, x_ours, x_theirs = interleaved(ours, theirs, 1 if quick else repeat, warmup=not quick)
    diff = float(np.abs(x_ours - x_theirs).max())
    rel = float(np.abs(x_ours[..., 0] - x_theirs[..., 0]).max() / np.abs(x_theirs[..., 0]).max())
    same_as_run = float(np.abs(x_ours[..., 0] - res.h_hat).max())
    ratio = t_theirs / t_ours
    note = (f"`optical_flow_odometry.extended_kalman_filter` on {n_batch} simulated flight(s) × {steps} "
            f"steps of the notebook's height filter (state h, v_z, "
            f"accelerometer bias; measurement ω_div = v_z/h), the same matrices and data on both sides. "
            f"Ours runs all flights in one batched numpy loop over time; filterpy runs one filter per flight.")
    if ratio < 1:
        note += (" Ours is slower here: with a batch this small, numpy's per-call overhead on 3×3 matrices "
                 "outweighs filterpy's per-flight Python loop.")
    return Row(what, f"{fmt_time(t_ours / (n_batch * steps))} per flight-step",
               f"{fmt_time(t_theirs / (n_batch * steps))} per flight-step", ratio,
               f"max |Δstate| {diff:.1e} (height: {rel:.1e} relative); equal to float precision"
               + ("" if same_as_run == 0.0 else f"; vs run(): {same_as_run:.1e}"), note)


# ----------------------------------------------------------------------------------------------------
# 3. Closed-form leg IK vs ikpy, and vs the module's own numeric IK
# ----------------------------------------------------------------------------------------------------

def _ikpy_leg(ikpy_chain: Any, ikpy_link: Any, robot: Any, leg: int) -> Any:
    """The leg's DH chain of `quadruped_ik.leg_chain` written as ikpy URDF links, with its joint limits.

    URDF links apply translate, then roll-pitch-yaw (R = Rz Ry Rx), then the joint's rotation, so
    DH's Rz(θ) Tx(a) becomes the joint of one link and the translation of the next; the fixed
    T_1^2 = Rz(-π/2) Rx(π/2) is the rpy (π/2, 0, -π/2).
    """
    lim = robot.limits()[leg].numpy()
    link = ikpy_link.URDFLink
    return ikpy_chain.Chain([
        ikpy_link.OriginLink(),
        link("hip", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], rotation=[0, 0, 1], bounds=tuple(lim[0])),
        link("shoulder", [-robot.l1, 0.0, 0.0], [math.pi / 2, 0.0, -math.pi / 2], rotation=[0, 0, 1],
             bounds=tuple(lim[1])),
        link("knee", [robot.l2, 0.0, 0.0], [0.0, 0.0, 0.0], rotation=[0, 0, 1], bounds=tuple(lim[2])),
        link("foot", [robot.l3, 0.0, 0.0], [0.0, 0.0, 0.0], joint_type="fixed"),
    ], active_links_mask=[False, True, True, True, False])


def compare_ik_ikpy(quick: bool = False, repeat: int = 3) -> Row:
    what = "closed-form leg IK vs ikpy"
    try:
        ikpy_chain = require("ikpy.chain", "ikpy")
        ikpy_link = require("ikpy.link", "ikpy")
    except Missing as exc:
        return skip_row(what, str(exc))
    import torch

    from ik_timing import leg_ik_scalar
    from minimal_impls import quadruped_ik as qik

    robot, leg = qik.Robot(), 1                                   # leg 2, right front
    chain = _ikpy_leg(ikpy_chain, ikpy_link, robot, leg)
    n = 3 if quick else 100
    angles, feet = qik.sample_reachable(robot, n, seed=0)
    truth, targets = angles[:, leg].numpy(), feet[:, leg].numpy()
    init = [0.0, *qik.crouch()[leg].tolist(), 0.0]                # the same start as numeric_ik
    fk_check = float(np.abs(chain.forward_kinematics([0.0, *truth[0], 0.0])[:3, 3] - targets[0]).max())
    feet_t = torch.as_tensor(targets)
    rows = list(feet_t)

    def ours() -> np.ndarray:  # one call per target, as a controller would call it (the scalar path)
        return np.stack([leg_ik_scalar(robot, t, leg + 1).numpy() for t in rows])

    def ours_batched() -> np.ndarray:  # one batched call for all targets
        return qik.leg_ik(robot, feet_t, leg=leg + 1).numpy()

    def theirs() -> np.ndarray:  # one optimisation (scipy least_squares) per target
        return np.array([chain.inverse_kinematics(t, initial_position=init)[1:4] for t in targets])

    t_ours, t_theirs, q_ours, q_theirs = interleaved(ours, theirs, 1 if quick else repeat, warmup=not quick)
    t_batch, _, q_batch, _ = interleaved(ours_batched, lambda: None, 1 if quick else 5 * repeat, warmup=not quick)
    fk = lambda q: np.array([chain.forward_kinematics([0.0, *qq, 0.0])[:3, 3] for qq in q])  # noqa: E731
    err_ours = float(max(np.linalg.norm(fk(q_ours) - targets, axis=1).max(),
                         np.linalg.norm(fk(q_batch) - targets, axis=1).max()))
    err_theirs = np.linalg.norm(fk(q_theirs) - targets, axis=1)
    same = float(np.mean(np.abs(q_theirs - truth).max(1) < 1e-3))
    ratio, ratio_batch = t_theirs / t_ours, t_theirs / t_batch
    note = (f"`quadruped_ik.leg_ik` against ikpy's `Chain.inverse_kinematics` on {n} random reachable "
            f"targets of one leg, inside its joint limits (ikpy gets the same limits as "
            f"bounds and the same crouched start as our numeric IK). The chain written for ikpy reproduces our "
            f"forward kinematics to {fk_check:.0e} m. Ours: eqs. (15)–(17); the ratio is for one call per "
            f"target (a plain-`math` path for single targets), the conservative figure; batched, one torch call "
            f"for all {n} targets takes {fmt_time(t_batch / n)} per target, {fmt_ratio(ratio_batch)} ikpy's time. "
            f"ikpy: an iterative least-squares solve (scipy) per target.")
    return Row(what, f"{fmt_time(t_ours / n)} per target (one call each); {fmt_time(t_batch / n)} batched",
               f"{fmt_time(t_theirs / n)} per target", ratio,
               f"foot error max {err_ours:.1e} m (ours) vs {err_theirs.max():.1e} m (ikpy, median "
               f"{np.median(err_theirs):.1e}); ikpy found our solution (±1 mrad) for {same:.0%}", note)


def compare_ik_numeric(quick: bool = False, repeat: int = 3) -> Row:
    what = "closed-form leg IK vs our numeric IK"
    from minimal_impls import quadruped_ik as qik

    robot = qik.Robot()
    n = 5 if quick else 250
    _, feet = qik.sample_reachable(robot, n, seed=0)
    t_ours, t_theirs, q_ours, num = interleaved(lambda: qik.leg_ik(robot, feet), lambda: qik.numeric_ik(robot, feet),
                                                1 if quick else 5 * repeat, warmup=not quick)
    ok = num.converged
    same = ok & ((num.angles - q_ours).abs().amax(-1) < 1e-6)
    err = float((qik.leg_fk(robot, q_ours) - feet).norm(dim=-1).max())
    ratio = t_theirs / t_ours
    note = (f"`quadruped_ik.leg_ik` against the same module's damped-least-squares `numeric_ik` on {4 * n} "
            f"random reachable targets (all four legs), both batched torch float64 on {feet.device}; "
            f"the numeric IK iterates up to 30 times to 1e-10 m from a crouch, clamping to the joint limits. "
            f"Where it converges to other angles it found the leg's other valid configuration (the foot is "
            f"where it should be, the knee or hip on the other branch): a local method cannot choose the "
            f"branch, the closed form picks the paper's.")
    return Row(what, f"{fmt_time(t_ours / (4 * n))} per target", f"{fmt_time(t_theirs / (4 * n))} per target", ratio,
               f"foot error max {err:.1e} m (ours), {float(num.error.max()):.1e} m (numeric); numeric converged "
               f"for {float(ok.double().mean()):.0%}, to our angles (±1e-6 rad) for "
               f"{float(same.double().sum() / ok.double().sum().clamp_min(1)):.0%} of those", note)


# ----------------------------------------------------------------------------------------------------
# 4. The rigid-body simulator (minimal_impls/rigid_body.py, used by physgen) vs pymunk, drop and bounce
# ----------------------------------------------------------------------------------------------------

def _bounce_exact(t: np.ndarray, y0: float, floor: float, e: float, g: float) -> np.ndarray:
    """Height (y down) of a ball dropped from rest at y0 onto a floor at `floor`, restitution e."""
    segments = [(0.0, y0, 0.0)]                       # (start time, position, velocity) of each flight
    t_hit = math.sqrt(2 * (floor - y0) / g)
    v_up = e * g * t_hit
    while t_hit < t[-1] and v_up > 1e-6:
        segments.append((t_hit, floor, -v_up))
        t_hit, v_up = t_hit + 2 * v_up / g, e * v_up
    y = np.empty_like(t)
    for start, pos, vel in segments:
        m = t >= start
        y[m] = pos + vel * (t[m] - start) + 0.5 * g * (t[m] - start) ** 2
    return y


def compare_physics(quick: bool = False, repeat: int = 3) -> Row:
    what = "rigid-body simulator vs pymunk"
    try:
        pymunk = require("pymunk")
    except Missing as exc:
        return skip_row(what, str(exc))
    from minimal_impls import rigid_body as rb

    height, width, r, y0, e_ball = 400, 300, 10.0, 150.0, 0.8
    specs = [rb.body("circle", (80.0, y0), (2 * r, 2 * r), density=1.0, friction=0.5, restitution=e_ball),
             rb.body("box", (210.0, 120.0), (40.0, 24.0), angle=0.3, density=1.0, friction=0.5, restitution=0.3)]
    velocity = np.array([[0.0, 0.0], [-20.0, 0.0]])
    duration, dt, iterations = (0.2 if quick else 1.5), rb.DT, 12
    n_steps = int(round(duration / dt))

    def ours() -> tuple[np.ndarray, np.ndarray]:
        world = rb.make_world([p for p, _ in specs], [m for _, m in specs], size=(height, width),
                              wall_restitution=1.0)   # pymunk's walls below have elasticity 1
        world.vel[:] = velocity
        traj = rb.simulate(world, duration=duration, dt=dt, frame_every=1)
        return traj.pos, traj.angle

    def theirs() -> tuple[np.ndarray, np.ndarray]:
        space = pymunk.Space()
        space.gravity, space.iterations = (0.0, rb.GRAVITY), iterations
        corners = ((0, 0), (width, 0), (width, height), (0, height))
        for k in range(4):       # the image border is the room, as in physgen
            wall = pymunk.Segment(space.static_body, corners[k], corners[(k + 1) % 4], 0.0)
            wall.elasticity, wall.friction = 1.0, 1.0   # pymunk multiplies, as physgen does
            space.add(wall)
        bodies = []
        for (prim, mat), vel in zip(specs, velocity):
            mass = mat.density * prim.area
            if prim.kind == "circle":
                bd = pymunk.Body(mass, pymunk.moment_for_circle(mass, 0.0, prim.size[0] / 2))
                shape = pymunk.Circle(bd, prim.size[0] / 2)
            else:
                bd = pymunk.Body(mass, pymunk.moment_for_box(mass, tuple(prim.size)))
                shape = pymunk.Poly.create_box(bd, tuple(prim.size))
            bd.position, bd.angle, bd.velocity = tuple(prim.center), prim.angle, tuple(vel)
            shape.elasticity, shape.friction = mat.restitution, mat.friction
            space.add(bd, shape)
            bodies.append(bd)
        pos, ang = np.empty((n_steps + 1, len(bodies), 2)), np.empty((n_steps + 1, len(bodies)))
        for k in range(n_steps + 1):
            if k:
                space.step(dt)
            pos[k] = [tuple(b.position) for b in bodies]
            ang[k] = [b.angle for b in bodies]
        return pos, ang

    t_ours, t_theirs, (p_ours, a_ours), (p_theirs, a_theirs) = interleaved(ours, theirs, 1 if quick else repeat,
                                                                            warmup=not quick)
    t = np.arange(n_steps + 1) * dt
    exact = _bounce_exact(t, y0, height - r, e_ball, rb.GRAVITY)
    ball = lambda p: float(np.abs(p[:, 0, 1] - exact).max())  # noqa: E731
    apart = np.linalg.norm(p_ours - p_theirs, axis=-1).max(0)
    ratio = t_theirs / t_ours
    note = (f"`rigid_body.simulate` (the engine behind physgen) against pymunk (Chipmunk2D): a ball (e = {e_ball}) dropped "
            f"{height - r - y0:.0f} px and a tilted box (e = 0.3) tossed sideways onto "
            f"the floor, {duration} s at dt = 1/240 s, {iterations} solver iterations on both sides, materials "
            f"combined by product on both. Ours cuts a step at the time of impact and integrates flight exactly; pymunk bounces at "
            f"the step after contact (semi-implicit Euler), so near an impact the two differ by up to v·dt ≈ 3 px.")
    if ratio < 1:
        note += (" Ours is slower: it is written to be read (numpy on 2 bodies, contact detection run twice per "
                 "step, a Python loop of sequential impulses), so per-call overhead dominates; pymunk is "
                 "Chipmunk2D in C. No cheap fix short of vectorising the contact solver.")
    return Row(what, f"{fmt_time(t_ours / n_steps)} per step", f"{fmt_time(t_theirs / n_steps)} per step", ratio,
               f"ball height vs closed form: max {ball(p_ours):.2f} px (ours), {ball(p_theirs):.2f} px (pymunk); "
               f"ours vs pymunk max |Δpos|: ball {apart[0]:.2f} px, box {apart[1]:.2f} px, "
               f"box angle {float(np.abs(a_ours[:, 1] - a_theirs[:, 1]).max()):.3f} rad", note)


# ----------------------------------------------------------------------------------------------------
# 5. ViT training step vs timm, CLIP loss vs open_clip: in the torchvision interpreter
# ----------------------------------------------------------------------------------------------------

TORCH_LIB_ROWS = ("ViT training step vs timm", "CLIP loss vs open_clip")


def tv_python() -> Path:
    return Path(os.environ.get("PAPERCLUB_BENCH_TV_PYTHON", TV_PYTHON))


def compare_torch_libraries(quick: bool = False, repeat: int = 5, threads: int = 1,
                            timeout: float = 900.0) -> list[Row]:
    """Run bench/torch_libs.py in the torchvision interpreter; its rows come back as JSON."""
    python = tv_python()
    if not python.exists():
        why = (f"timm/open_clip need torchvision, which does not install beside the project's torch: make the "
               f"second venv `{python.relative_to(ROOT) if python.is_relative_to(ROOT) else python}` "
               f"(see docs/performance.md)")
        return [skip_row(w, why) for w in TORCH_LIB_ROWS]
    cmd = [str(python), str(ROOT / "bench" / "torch_libs.py"), "--repeat", str(repeat), "--threads", str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd + (["--quick"] if quick else []), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return [Row(w, "—", "—", None, "—", f"failed in {python}: {tail[0]}", skipped=True)
                for w in TORCH_LIB_ROWS]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    return [Row(**row) for row in rows]


# ----------------------------------------------------------------------------------------------------
# All of them
# ----------------------------------------------------------------------------------------------------

COMPARISONS: tuple[Callable[..., Row], ...] = (compare_lucas_kanade, compare_ekf, compare_ik_ikpy, compare_ik_numeric,
                                                compare_physics)


class threads_limited:
    """Run torch (and OpenCV, when installed) on `n` CPU threads inside the block, then restore.

    One thread per side by default: on a shared machine, torch's intra-op threads spin against whatever
    else is running (a batched IK measured 14× slower with 2 threads than with 1 under load), so the
    ratio would measure the scheduler, not the code. Both sides get the same setting.
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> "threads_limited":
        import torch

        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)
        self.cv2 = importlib.util.find_spec("cv2") is not None
        if self.cv2:
            import cv2

            self.saved_cv2 = cv2.getNumThreads()
            cv2.setNumThreads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.saved)
        if self.cv2:
            import cv2

            cv2.setNumThreads(self.saved_cv2)


def run_all(quick: bool = False, repeat: int = 5, threads: int = 1,
            log: Callable[[str], None] = lambda _m: None) -> list[Row]:
    """Every comparison, in order. A comparison that fails becomes a row saying so (the bench goes on)."""
    rows: list[Row] = []
    with threads_limited(threads):
        for fn in COMPARISONS:
            log(f"bench: {fn.__name__}")
            try:
                rows.append(fn(quick=quick, repeat=repeat))
            except Exception as exc:  # noqa: BLE001 — reported in the table, not swallowed
                rows.append(Row(fn.__name__, "—", "—", None, "—", f"failed: {type(exc).__name__}: {exc}",
                                skipped=True))
    log("bench: timm / open_clip")
    rows.extend(compare_torch_libraries(quick=quick, repeat=repeat, threads=threads))
    return rows


def table(rows: list[Row]) -> str:
    """A Markdown table (one line per comparison), then the numbered notes it refers to."""
    cell = lambda c: c.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    out = ["| comparison | ours | theirs | speed ratio (their time / ours) | accuracy |",
           "| --- | ---: | ---: | ---: | --- |"]
    notes = []
    for i, r in enumerate(rows, 1):
        out.append("| " + " | ".join(cell(c) for c in (f"{r.what} [{i}]", r.ours, r.theirs, fmt_ratio(r.ratio),
                                                        r.accuracy)) + " |")
        notes.append(f"{i}. {r.note}")
    return "\n".join(out) + "\n\n" + "\n".join(notes)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one run each (for the tests)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for torch/OpenCV on both sides")
    args = ap.parse_args(argv)
    text = table(run_all(quick=args.quick, repeat=args.repeat, threads=args.threads,
                         log=lambda m: print(m, file=sys.stderr)))
    print(text)
    return text


if __name__ == "__main__":
    main()
