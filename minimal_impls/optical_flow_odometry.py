"""Self-scaled optic-flow odometry for a drone: height from oscillation, distance from flow.

"Indoor and outdoor in-flight odometry based solely on optic flow with oscillatory trajectories."
International Journal of Micro Air Vehicles (2023; author list and year unverified, most likely
Bergantin, Raharijaona, Ruffier). https://doi.org/10.1177/17568293221148380
The odometry model it flies, SOFIa, comes from Bergantin, Harbaoui, Raharijaona, Ruffier.
"Oscillations make a self-scaled model for honeybees' visual odometer reliable regardless of flight
trajectory." J. R. Soc. Interface 18 (2021). https://doi.org/10.1098/rsif.2021.0567

The idea: optic flow measures speed *divided by height*, so integrating it gives radians, not metres.
Make the drone bob up and down: the vertical motion contracts and expands the ventral flow (the
divergence cue v_z/h, > 0 when climbing = a contraction), an Extended Kalman Filter recovers h from
it, and the translational cue v_x/h times that h, integrated, is the distance (the abstract).

Beyond the abstract we had only the club's slides on the conference version (four optic-flow sensors,
two per axis at ±30°; an EKF with height as a double integrator driven by the IMU's vertical
acceleration; NPK on 2 raw sensors, PPK/RPK fusing 4 with prior knowledge of the flow's variations).
Equations are labelled (A)–(G), derived here, not the paper's numbers:
  (A) flow seen along a line of sight tilted by φ;  (B) the two cues from ±φ sensors (sum, difference;
  least squares for 4 sensors);  (C)–(D) the process model, a double integrator in (h, v_z) driven by
  the IMU (plus a bias state, ours);  (E) the measurement ω_div = v_z/h;  (F) SOFIa, ∫ ĥ ω_T dt;
  (G) the baselines.
What it keeps (settings ours unless the slides give them): forward flight oscillating at 0.28 Hz
(the slides' example; ±15 cm ours) with a drifting mean height and a biased IMU; 2 or 4 sensors; flow
from (A) plus noise, or measured by Lucas–Kanade on rendered 16×16 patches of scikit-image's `grass`;
PPK/RPK as a template fit (matched filter) of the divergence cue, our reading.
What it drops: the paper's own equations and results; attitude (no pitch or roll), flat ground, the
arena's circular path, real sensors and flights.

No GPU path: the work is a sequential filter on 3×3 matrices and a few thousand 16×16 patches,
which a GPU would only slow down; everything is numpy on the CPU, seeded and deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Literal

import numpy as np
from scipy import ndimage
from scipy.integrate import cumulative_trapezoid
from scipy.signal import lfilter

from minimal_impls.common import check_arg, check_choice, check_number, check_positive

Array = np.ndarray


# ---- 1. Lucas–Kanade optic flow (what a sensor chip does with two successive frames) ---------------
# Our stand-in for the paper's flow chips (not the paper's method). Brightness constancy, linearised
# (Ix u + Iy v + It = 0), least squares over a window: G u = -b, G = Σ ∇I∇Iᵀ. Tiny λ_min(G): no
# texture or a lone edge, so the flow is *unknown* (NaN), not zero. Gauss–Newton: warp I1 back by the
# current u_q and solve each window for one flow, G_p u_p = Σ_q ∇I_q (∇I_qᵀ u_q − It_q). Dropping the
# ∇I_q∇I_qᵀ u_q term in a dense field (a "Jacobi sweep", `jacobi=True`, kept as a common mistake)
# feeds each pixel its neighbours' errors, which grow under a box window.

LK_ITERATIONS = 3  # Gauss–Newton steps per pyramid level in the odometry pipeline (section 4)


_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0   # Burt & Adelson's 5-tap Gaussian (σ ≈ 1)


def _blur_down(images: Array) -> Array:
    """One pyramid level: 5-tap binomial anti-alias blur, then keep every second row and column."""
    rows = ndimage.correlate1d(images, _BINOMIAL, axis=1, mode="nearest")[:, ::2]
    return ndimage.correlate1d(rows, _BINOMIAL, axis=2, mode="nearest")[:, :, ::2]


def _central_gradient(images: Array) -> Array:
    """∇I = (∂I/∂x, ∂I/∂y) stacked as (2, N, H, W), central differences; 0 on the 1-px frame, which
    the caller masks out (differences there would be one-sided)."""
    grad = np.zeros((2,) + images.shape)
    np.subtract(images[:, 1:-1, 2:], images[:, 1:-1, :-2], out=grad[0, :, 1:-1, 1:-1])
    np.subtract(images[:, 2:, 1:-1], images[:, :-2, 1:-1], out=grad[1, :, 1:-1, 1:-1])
    grad *= 0.5
    return grad


def _window_sum(x: Array, window: int) -> Array:
    """Σ over the k×k box around each pixel (of the last two axes)."""
    size = (1,) * (x.ndim - 2) + (window, window)
    return ndimage.uniform_filter(x, size=size, mode="constant") * window**2


def _sums(terms: Array, wgt: Array, window: int | None) -> Array:
    """Σ over each window of wgt · term, for a stack of per-pixel terms (K, N, H, W) → (K, N[, H, W])."""
    if window is None:   # one window per patch: a batched dot product over its pixels
        k, n = terms.shape[:2]
        return np.matmul(terms.reshape(k, n, 1, -1), wgt.reshape(1, n, -1, 1))[..., 0, 0]
    return _window_sum(terms * wgt, window)


def _warp(images: Array, flow: Array) -> tuple[Array, Array]:
    """Sample images at x + u (bilinear, edges repeated); flow is (N, 2) or (N, H, W, 2) px, (dx, dy).
    What `map_coordinates(order=1, mode="nearest")` computes, as 2-D gathers (nothing interpolated
    along the batch axis); also where x + u fell inside the image (outside, samples are made up)."""
    n, h, w = images.shape
    if flow.ndim == 2:
        # One shift per patch: gather one (H+1)×(W+1) block per image at its integer offset, then
        # blend its four corner-shifted views with the shared fractional part.
        c = np.clip(np.arange(w + 1) + np.floor(flow[:, :1]), 0, w - 1).astype(int)   # (N, W+1)
        r = np.clip(np.arange(h + 1) + np.floor(flow[:, 1:]), 0, h - 1).astype(int)   # (N, H+1)
        block = images.reshape(-1).take((np.arange(n)[:, None, None] * h + r[:, :, None]) * w + c[:, None, :])
        fc, fr = (flow[:, 0] % 1.0)[:, None, None], (flow[:, 1] % 1.0)[:, None, None]
        across = block[:, :, :-1] + fc * np.diff(block, axis=2)             # along rows, then down
        top, bottom = across[:, :-1], across[:, 1:]
        cols, rows = np.arange(w) + flow[:, :1], np.arange(h) + flow[:, 1:]
        inside = (((rows >= 0) & (rows <= h - 1))[:, :, None]) & (((cols >= 0) & (cols <= w - 1))[:, None, :])
        return top + fr * (bottom - top), inside
    c = np.arange(w, dtype=float) + flow[..., 0]                     # (N, H, W)
    r = np.arange(h, dtype=float)[:, None] + flow[..., 1]
    inside = (r >= 0) & (r <= h - 1) & (c >= 0) & (c <= w - 1)
    c, r = np.clip(c, 0, w - 1), np.clip(r, 0, h - 1)                # "nearest": repeat the edge
    c0, r0 = np.minimum(c.astype(int), w - 2), np.minimum(r.astype(int), h - 2)
    fc, fr = c - c0, r - r0
    flat, base = images.reshape(n, h * w), (r0 * w + c0).reshape(n, -1)
    tl, tr, bl, br = (np.take_along_axis(flat, base + off, axis=1).reshape(n, h, w) for off in (0, 1, w, w + 1))
    top, bottom = tl + fc * (tr - tl), bl + fc * (br - bl)
    return top + fr * (bottom - top), inside


def _min_eigenvalue(gxx: Array, gxy: Array, gyy: Array) -> Array:
    """Smaller eigenvalue of the symmetric 2×2 matrix [[gxx, gxy], [gxy, gyy]], closed form."""
    return 0.5 * (gxx + gyy) - np.sqrt(0.25 * (gxx - gyy) ** 2 + gxy**2)


def pyramid_levels(max_motion: float, patch: int) -> int:
    """Levels so that the expected motion is ≤ 1 px at the coarsest one (LK's capture range), capped
    by the patch size (the coarsest level keeps ≥ 8 px)."""
    check_positive("max_motion", max_motion)
    need = 1 + max(0, int(np.ceil(np.log2(max_motion))))
    return max(1, min(need, 1 + int(np.floor(np.log2(patch / 8)))))


def lucas_kanade(img0: Array, img1: Array, window: int | None = None, levels: int | None = None,
                 iterations: int = 3, min_eigenvalue: float = 1e-4, max_motion: float = 2.0,
                 max_residual: float = 0.3, forward_backward: float | None = 0.3,
                 jacobi: bool = False) -> tuple[Array, Array]:
    """Pyramidal Lucas–Kanade flow from img0 to img1 (so that img1(x + u) ≈ img0(x)).

    img0, img1: (H, W) or (N, H, W) images, any brightness scale (0–1, 0–255, ...).
    window: None → one flow per image (like a flow-sensor chip); odd k → dense, k×k windows.
    levels: pyramid levels; None → enough for `max_motion` px (see `pyramid_levels`).
    Reliability, three tests: min_eigenvalue, λ_min(G) per window pixel over img0's intensity
    variance (texture; relative, so brightness scale does not matter); max_residual, what no
    translation explains after the last step, as a misalignment √(Σr²/Σ|∇I|²) px (motion beyond the
    pyramid's reach); forward_backward, the flow img1 → img0 must undo this one within that many px
    (None: off): on a repeating texture a window can lock onto a shifted copy with a small residual.
    jacobi: the common mistake described above (dense fields only; identical when window=None).
    Returns ``flow`` in pixels as (dx, dy) — shape (N, 2), or (N, H, W, 2) when dense (no N axis for
    2-D input) — and a boolean ``reliable`` mask; unreliable flow is NaN.
    """
    img0, img1 = np.asarray(img0, dtype=float), np.asarray(img1, dtype=float)
    check_arg(img0.shape == img1.shape and img0.ndim in (2, 3), "img0, img1",
              "two arrays of the same shape (H, W) or (N, H, W)", f"{img0.shape} and {img1.shape}")
    check_arg(window is None or (isinstance(window, int) and window >= 3 and window % 2 == 1), "window",
              "None or an odd integer >= 3", window)
    check_number("iterations", iterations, low=1, integer=True)
    check_arg(isinstance(max_residual, (int, float)) and max_residual > 0, "max_residual",
              "a positive number (inf: no residual test)", max_residual)
    single = img0.ndim == 2
    if single:
        img0, img1 = img0[None], img1[None]
    if levels is None:
        levels = pyramid_levels(max_motion, min(img0.shape[1:]))
    check_number("levels", levels, low=1, integer=True)
    check_arg(min(img0.shape[1:]) >= 2 ** (levels - 1) * 8, "levels",
              f"patches of at least {2 ** (levels - 1) * 8} px for {levels} levels", img0.shape[1:])

    # Work through the batch in blocks of about 32k pixels: every intermediate array then stays in
    # the CPU cache instead of being streamed through memory a dozen times per iteration (≈1.4×).
    block = max(1, _BLOCK_PIXELS // (img0.shape[1] * img0.shape[2]))
    parts = [_lucas_kanade_block(img0[i:i + block], img1[i:i + block], window, levels, iterations,
                                 min_eigenvalue, max_residual, jacobi) for i in range(0, len(img0), block)]
    flow, reliable = (np.concatenate(x) for x in zip(*parts))
    if forward_backward is not None:   # the reverse flow, read where each pixel went, must be −u
        back, _ = lucas_kanade(img1, img0, window, levels, iterations, min_eigenvalue, max_motion,
                               max_residual, None, jacobi)
        if window is not None:
            back = np.stack([_warp(np.nan_to_num(back[..., j]), np.nan_to_num(flow))[0] for j in (0, 1)], -1)
        reliable &= np.linalg.norm(np.nan_to_num(flow + back, nan=np.inf), axis=-1) <= forward_backward
        flow = np.where(reliable[..., None], flow, np.nan)
    return (flow[0], reliable[0]) if single else (flow, reliable)


_BLOCK_PIXELS = 32768


def _lucas_kanade_block(img0: Array, img1: Array, window: int | None, levels: int, iterations: int,
                        min_eigenvalue: float, max_residual: float, jacobi: bool) -> tuple[Array, Array]:
    """`lucas_kanade` on a (N, H, W) block of checked input."""
    pyramid = [(img0, img1)]
    for _ in range(levels - 1):
        pyramid.append((_blur_down(pyramid[-1][0]), _blur_down(pyramid[-1][1])))

    n = img0.shape[0]
    flow = np.zeros((n, 2)) if window is None else np.zeros(pyramid[-1][0].shape + (2,))
    for level, (i0, i1) in enumerate(reversed(pyramid)):
        if level > 0:  # coarse-to-fine: pass the coarser estimate down, doubled
            flow = 2.0 * flow if window is None else 2.0 * np.repeat(np.repeat(flow, 2, 1), 2, 2)
            flow = flow if window is None else flow[:, : i0.shape[1], : i0.shape[2]]
        grad = _central_gradient(i0)                      # (Ix, Iy)
        ix, iy = grad
        frame = np.zeros(i0.shape[1:])                    # the 1-px frame is dropped
        frame[1:-1, 1:-1] = 1.0
        tensor = grad[[0, 0, 1]] * grad[[0, 1, 1]]        # per-pixel ∇I∇Iᵀ (xx, xy, yy), fixed on this level
        for _ in range(iterations):
            u, v = (flow[:, 0, None, None], flow[:, 1, None, None]) if window is None else (flow[..., 0], flow[..., 1])
            warped, inside = _warp(i1, flow)  # undo the current estimate, then look at what is left
            it, wgt = warped - i0, frame * inside
            gxx, gxy, gyy = _sums(tensor, wgt, window)       # G
            ex, ey = _sums(grad * it, wgt, window)             # Σ ∇I It
            if jacobi:   # the mistake: each pixel's own increment, summed over its neighbours
                bx, by = -ex, -ey
            elif window is None:  # one flow per window: Σ ∇I∇Iᵀu = G u
                bx, by = gxx * flow[:, 0] + gxy * flow[:, 1] - ex, gxy * flow[:, 0] + gyy * flow[:, 1] - ey
            else:        # per-window flow: each pixel's constraint, linearised at its own estimate
                tx, ty = _sums(np.stack([tensor[0] * u + tensor[1] * v, tensor[1] * u + tensor[2] * v]), wgt, window)
                bx, by = tx - ex, ty - ey
            det = gxx * gyy - gxy**2
            ok = det > 1e-12 * (gxx + gyy) ** 2 + 1e-300        # singular G: keep the estimate
            with np.errstate(divide="ignore", invalid="ignore"):
                new = np.stack([(gyy * bx - gxy * by) / det, (gxx * by - gxy * bx) / det], axis=-1)  # G⁻¹ b
            new = flow + new if jacobi else new
            flow = np.where(ok[..., None], new, flow)

    # Reliability at the finest level: (1) texture, λ_min(G), else ill-posed (flat patch, lone edge);
    # (2) the residual It + ∇I·Δu left after the last step (aligned with the wrong content?).
    du, dv = (flow[:, 0, None, None] - u, flow[:, 1, None, None] - v) if window is None else \
        (flow[..., 0] - u, flow[..., 1] - v)
    (res,) = _sums(((it + ix * du + iy * dv) ** 2)[None], wgt, window)
    area = wgt.sum(axis=(-2, -1)) if window is None else _window_sum(wgt, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        misalignment = np.sqrt(res / (gxx + gyy))
    contrast = img0.var(axis=(1, 2)).reshape((-1,) + (1,) * (gxx.ndim - 1)) + 1e-300   # brightness scale²
    reliable = (_min_eigenvalue(gxx, gxy, gyy) / np.maximum(area, 1.0) / contrast > min_eigenvalue) & \
        (misalignment <= max_residual)
    return np.where(reliable[..., None], flow, np.nan), reliable


def shifted_patches(image: Array, corners: Array, shifts: Array, size: int) -> tuple[Array, Array]:
    """Crops of `image` at `corners` (row, col) and the same crops with their content moved by
    `shifts` (dx, dy) px: exact for the band-limited image (a Fourier phase ramp on a margin-padded crop)."""
    m = size // 2
    big = np.stack([image[r - m:r + size + m, c - m:c + size + m] for r, c in corners])
    ky, kx = np.meshgrid(np.fft.fftfreq(big.shape[1]), np.fft.fftfreq(big.shape[2]), indexing="ij")
    ramp = np.exp(-2j * np.pi * (kx * shifts[:, 0, None, None] + ky * shifts[:, 1, None, None]))
    moved = np.fft.ifft2(np.fft.fft2(big) * ramp).real
    return big[:, m:m + size, m:m + size], moved[:, m:m + size, m:m + size]


def lk_shift_sweep(image: Array, magnitudes: Array, n_patches: int = 200, size: int = 32, seed: int = 3,
                   tolerance: float = 0.5, **lk_kwargs) -> Array:
    """For each shift magnitude (random directions), the fractions of patches that come back
    (reliable and within `tolerance` px, reliable but wrong): shape (len(magnitudes), 2).
    `max_motion="shift"` in lk_kwargs sets the pyramid depth from each magnitude."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(size, min(image.shape) - 2 * size, (n_patches, 2))
    out = []
    for mag in magnitudes:
        ang = rng.uniform(0, 2 * np.pi, n_patches)
        shifts = mag * np.stack([np.cos(ang), np.sin(ang)], -1)
        p0, p1 = shifted_patches(image, corners, shifts, size)
        kw = dict(lk_kwargs, max_motion=max(float(mag), 1.0)) if lk_kwargs.get("max_motion") == "shift" else lk_kwargs
        flow, ok = lucas_kanade(p0, p1, **kw)
        err = np.linalg.norm(np.nan_to_num(flow, nan=1e3) - shifts, axis=-1)
        out.append((np.mean(ok & (err <= tolerance)), np.mean(ok & (err > tolerance))))
    return np.array(out)


# ---- 2. Ventral optic flow over flat ground, eq. (A) -----------------------------------------------
# A sensor looks along d, tilted by φ from the vertical towards azimuth α (0 = ahead, π/2 = left), at
# range D = h/cos φ; moving at v, the line of sight turns at ḋ = -(v - (v·d) d)/D. On the sensor's
# image axes, as a "ground sweeps backwards" vector in body axes (u_α = (cos α, sin α), u_α⊥ ⟂ it):
#   ω = [ (v_h·u_α) cos²φ + v_z sinφ cosφ ] / h · u_α  +  (v_h·u_α⊥) cos φ / h · u_α⊥        (A)
# The v_z term is the divergence: a climb makes the ground ahead slide back faster, behind slower.

def _basis(azimuth: Array, phi: Array) -> tuple[Array, Array, Array]:
    """Line of sight d, along-tilt axis e_a and across axis e_c (3-vectors, last axis)."""
    ca, sa, cp, sp = np.cos(azimuth), np.sin(azimuth), np.cos(phi), np.sin(phi)
    d = np.stack([sp * ca, sp * sa, -cp], axis=-1)
    e_a = np.stack([cp * ca, cp * sa, sp], axis=-1)
    e_c = np.stack([-sa, ca, np.zeros_like(ca)], axis=-1)
    return d, e_a, e_c


def flow_matrix(azimuth: Array | float, phi: Array | float) -> Array:
    """M with ω = M · (v_x, v_y, v_z) / h for sensors at (azimuth, φ): shape (..., 2, 3), eq. (A)."""
    azimuth, phi = np.broadcast_arrays(np.asarray(azimuth, dtype=float), np.asarray(phi, dtype=float))
    _, e_a, e_c = _basis(azimuth, phi)
    u = np.stack([np.cos(azimuth), np.sin(azimuth)], axis=-1)
    u_perp = np.stack([-np.sin(azimuth), np.cos(azimuth)], axis=-1)
    # -ḋ·e = (v·e) cos φ / h for e ⊥ d; map the two angular rates back onto body axes.
    cos_phi = np.cos(phi)[..., None]
    along, across = e_a * cos_phi, e_c * cos_phi  # (..., 3): rows of d(rate)/d(v/h)
    return u[..., :, None] * along[..., None, :] + u_perp[..., :, None] * across[..., None, :]


def ventral_flow(velocity: Array, height: Array, azimuth: Array | float, phi: Array | float) -> Array:
    """Optic flow (rad/s, body x/y, 'ground sweeping backwards' positive) from eq. (A).

    velocity: (..., 3) as (v_x, v_y, v_z) with z up; height: (...) above the ground.
    azimuth, phi: the viewing directions, broadcast against the leading axes.
    """
    velocity = np.asarray(velocity, dtype=float)
    if velocity.shape[-1] != 3:
        raise ValueError(f"velocity: expected shape (..., 3), got {velocity.shape}")
    if np.any(np.asarray(height) <= 0):
        raise ValueError("height: expected heights > 0 (above the ground), got a value <= 0")
    scaled = velocity / np.asarray(height, dtype=float)[..., None]
    return np.einsum("...ij,...j->...i", flow_matrix(azimuth, phi), scaled)


# ---- 3. The two cues, eq. (B): translational flow ω_T = v_x/h and divergence ω_div = v_z/h ---------
#   ω_T = (ω_fwd + ω_aft) / (2 cos²φ),      ω_div = (ω_fwd - ω_aft) / sin 2φ                    (B)
# With S sensors, (A) stacks into 2S equations in v/h; least squares gives (B) back for S = 2, and
# its covariance (MᵀM)⁻¹σ² is the measurement noise R the filter needs.

SENSOR_AZIMUTHS = {2: (0.0, np.pi), 4: (0.0, np.pi, np.pi / 2, -np.pi / 2)}


def optic_flow_cues(flows: Array, azimuths: Array, phi: float) -> tuple[Array, Array, Array]:
    """Least-squares v/h from S sensors' flows (..., S, 2); NaN rows (unreliable sensors) are dropped.

    Returns (ω_T, ω_div, unit_cov): the cues (...) and the (...)-shaped variance of ω_div per unit
    sensor-noise variance; steps whose remaining sensors cannot determine v/h are NaN.
    """
    flows = np.asarray(flows, dtype=float)
    azimuths = np.asarray(azimuths, dtype=float)
    if flows.ndim < 2 or flows.shape[-2:] != (azimuths.size, 2):
        raise ValueError(f"flows: expected shape (..., {azimuths.size}, 2) for {azimuths.size} sensors, "
                         f"got {flows.shape}")
    m = flow_matrix(azimuths, phi).reshape(-1, 3)                 # (2S, 3)
    z = flows.reshape(flows.shape[:-2] + (-1,))                   # (..., 2S)
    w = np.isfinite(z).astype(float)                              # weights 0 for missing rows
    normal = np.einsum("ki,...k,kj->...ij", m, w, m)              # MᵀWM
    rhs = np.einsum("ki,...k->...i", m, w * np.nan_to_num(z))     # MᵀWz
    ok = np.linalg.det(normal) > 1e-9
    eye = np.broadcast_to(np.eye(3), normal.shape)
    inv = np.linalg.inv(np.where(ok[..., None, None], normal, eye))
    est = np.einsum("...ij,...j->...i", inv, rhs)
    est[~ok] = np.nan
    return est[..., 0], est[..., 2], np.where(ok, inv[..., 2, 2], np.nan)


# ---- 4. The simulator: trajectory, IMU, and each sensor's flow (geometric, or rendered + Lucas–Kanade) ---

@dataclass(frozen=True)
class FlightConfig:
    duration: float = 40.0        # s
    rate: float = 50.0            # Hz, IMU and flow sensors
    speed: float = 1.0            # m/s, cruise forward speed (reached after a 3 s ramp from rest)
    h_nominal: float = 2.0        # m, the planned height (the only height the raw odometer knows)
    h_spread: float = 0.5         # m, true starting mean height ~ U(h_nominal ± h_spread)
    h_drift: float = 0.4          # m, mean height changes by U(±h_drift) over the flight
    osc_amplitude: float = 0.15   # m, vertical oscillation
    osc_freq: float = 0.28        # Hz, the example flight on the club's slides (secondary source)
    osc_jitter: float = 0.05      # the real amplitude is the commanded one × U(1 ± osc_jitter)
    phi_deg: float = 30.0         # sensors tilted ±φ, per the club's slides
    flow_noise: float = 0.03      # rad/s per flow component (geometric flow only)
    acc_noise: float = 0.1        # m/s², white accelerometer noise per sample
    acc_bias: float = 0.05        # m/s², std of each axis's constant accelerometer bias
    imu_delay: float = 0.0        # s, the IMU reaches the filter this late (0: synchronous with the flow)

    def __post_init__(self) -> None:
        for name in ("duration", "rate", "speed", "h_nominal", "osc_freq", "phi_deg"):
            check_positive(name, getattr(self, name))
        for name in ("h_spread", "h_drift", "osc_amplitude", "flow_noise", "acc_noise", "acc_bias", "imu_delay"):
            check_number(name, getattr(self, name), low=0)
        check_number("osc_jitter", self.osc_jitter, low=0, high=0.5)
        lowest = self.h_nominal - self.h_spread - self.h_drift - self.osc_amplitude
        check_arg(lowest > 0.4, "h_nominal", "h_nominal - h_spread - h_drift - osc_amplitude > 0.4 m "
                  "(the drone must stay well above the ground)", f"{lowest:.2f} m")
        check_arg(self.phi_deg < 60, "phi_deg", "a tilt in (0, 60) degrees", self.phi_deg)
        check_arg(self.duration * self.rate >= 20, "duration", "at least 20 samples",
                  round(self.duration * self.rate))


@dataclass
class Flights:
    """Ground truth and IMU readings for B flights sampled at T instants; arrays are (B, T)."""
    t: Array
    x: Array
    vx: Array
    ax: Array
    h: Array
    vz: Array
    az: Array
    imu_ax: Array
    imu_az: Array
    osc_phase: Array    # θ = ωt + φ of the commanded oscillation h = h̄ + A sin θ (known to PPK)


def simulate_flights(cfg: FlightConfig, n_flights: int, rng: np.random.Generator) -> Flights:
    """B forward flights with vertical oscillation and slow height drift, plus a biased noisy IMU."""
    if n_flights < 1:
        raise ValueError(f"n_flights: expected an integer >= 1, got {n_flights}")
    b = n_flights
    t = np.arange(round(cfg.duration * cfg.rate)) / cfg.rate
    col = lambda a: a[:, None]  # noqa: E731 — per-flight parameters broadcast along time

    # Forward speed: a smooth 3 s ramp from rest (so dead reckoning starts from a known v = 0) to
    # cruise, modulated by ±15 % at a slow random frequency.
    ramp_t = 3.0
    s = np.where(t < ramp_t, np.sin(np.pi * t / (2 * ramp_t)) ** 2, 1.0)
    ds = np.where(t < ramp_t, np.pi / (2 * ramp_t) * np.sin(np.pi * t / ramp_t), 0.0)
    w_v, ph_v = col(rng.uniform(0.05, 0.15, b) * 2 * np.pi), col(rng.uniform(0, 2 * np.pi, b))
    mod, dmod = 1 + 0.15 * np.sin(w_v * t + ph_v), 0.15 * w_v * np.cos(w_v * t + ph_v)
    vx = cfg.speed * s * mod
    ax = cfg.speed * (ds * mod + s * dmod)
    x = cumulative_trapezoid(vx, t, axis=1, initial=0.0)

    # Height: a mean that starts off-nominal and drifts slowly, plus the sinusoidal oscillation.
    h0 = col(rng.uniform(cfg.h_nominal - cfg.h_spread, cfg.h_nominal + cfg.h_spread, b))
    slope = col(rng.uniform(-cfg.h_drift, cfg.h_drift, b)) / cfg.duration
    w = 2 * np.pi * cfg.osc_freq
    ph = col(rng.uniform(0, 2 * np.pi, b))
    # The drone flies the commanded oscillation only approximately: its amplitude is off by up to
    # ±osc_jitter (what a precise prior on the oscillation gets wrong).
    amp = cfg.osc_amplitude * col(rng.uniform(1 - cfg.osc_jitter, 1 + cfg.osc_jitter, b))
    h = h0 + slope * t + amp * np.sin(w * t + ph)
    vz = slope + amp * w * np.cos(w * t + ph)
    az = -amp * w**2 * np.sin(w * t + ph)

    # IMU: gravity-compensated specific force with a constant bias per axis and white noise.
    imu_ax = ax + col(rng.normal(0, cfg.acc_bias, b)) + rng.normal(0, cfg.acc_noise, ax.shape)
    imu_az = az + col(rng.normal(0, cfg.acc_bias, b)) + rng.normal(0, cfg.acc_noise, az.shape)
    lag = round(cfg.imu_delay * cfg.rate)   # a late IMU: sample k carries the reading of k − lag
    if lag:
        imu_az = np.concatenate([np.repeat(imu_az[:, :1], lag, axis=1), imu_az[:, :-lag]], axis=1)
    tt = np.broadcast_to(t, vx.shape).copy()
    return Flights(tt, x, vx, ax, h, vz, az, imu_ax, imu_az, w * t + ph)


def geometric_flows(f: Flights, azimuths: Array, phi: float, noise: float, rng: np.random.Generator) -> Array:
    """Each sensor's flow from eq. (A) plus white noise: (B, T, S, 2) in rad/s."""
    v = np.stack([f.vx, np.zeros_like(f.vx), f.vz], axis=-1)[:, :, None, :]     # (B, T, 1, 3)
    clean = ventral_flow(v, f.h[:, :, None], np.asarray(azimuths), phi)          # (B, T, S, 2)
    return clean + rng.normal(0.0, noise, clean.shape)


@lru_cache(maxsize=1)
def ground_texture(texel: float = 0.03) -> tuple[Array, float]:
    """The ground: scikit-image's bundled `grass` photo (512², mirrored beyond its edges), blurred
    against aliasing and normalised to zero mean, unit variance; one texel = 3 cm, so 15 m across."""
    from skimage import data

    img = ndimage.gaussian_filter(data.grass().astype(float) / 255.0, 1.0)
    img = (img - img.mean()) / img.std()
    img.setflags(write=False)  # cached: shared by every caller
    return img, texel


def render_patches(x: Array, h: Array, azimuths: Array, phi: float, pixels: int = 16, fov_deg: float = 8.0,
                   texture: tuple[Array, float] | None = None) -> Array:
    """What each pinhole sensor sees from along-track position x and height h (any shape (...)):
    (..., S, pixels, pixels), columns along the tilt (e_a), rows across it (e_c)."""
    x, h = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(h, dtype=float))
    if np.any(h <= 0):
        raise ValueError("h: expected heights > 0 (above the ground), got a value <= 0")
    if pixels < 8 or not 0 < fov_deg < 120:
        raise ValueError(f"pixels, fov_deg: expected pixels >= 8 and 0 < fov_deg < 120, got {pixels}, {fov_deg}")
    tex, texel = ground_texture() if texture is None else texture
    focal = (pixels / 2) / np.tan(np.radians(fov_deg) / 2)
    c = (pixels - 1) / 2
    jj, ii = np.meshgrid(np.arange(pixels) - c, np.arange(pixels) - c)            # image columns, rows
    out = np.empty(x.shape + (len(azimuths), pixels, pixels))
    for k, az in enumerate(azimuths):  # one loop over 2–4 sensors; everything inside is vectorised
        d, e_a, e_c = _basis(np.asarray(az), np.asarray(phi))
        rays = d + (jj[..., None] * e_a + ii[..., None] * e_c) / focal              # (P, P, 3)
        s = h[..., None, None] / -rays[..., 2]                                      # range along ray
        gx = x[..., None, None] + s * rays[..., 0]
        gy = s * rays[..., 1]
        # The flight starts over the middle of the photo (no mirror seam in view at take-off).
        rows, cols = gy / texel + tex.shape[0] / 2, gx / texel + tex.shape[1] / 2
        out[..., k, :, :] = ndimage.map_coordinates(tex, [rows, cols], order=1, mode="mirror")
    return out


def relative_rms(a: Array, b: Array) -> float:
    """RMS of a − b over the entries finite in both, relative to the RMS of b (a convergence check)."""
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2) / np.mean(b[ok] ** 2)))


def lucas_kanade_flows(f: Flights, azimuths: Array, phi: float, pixels: int = 16, fov_deg: float = 8.0) -> Array:
    """Each sensor's flow *measured* by Lucas–Kanade between successive rendered frames: (B, T, S, 2).

    Pixels per frame become rad/s via the focal length (the image moves opposite to the 'ground
    sweeps backwards' vector). The narrow view keeps the flow uniform over the patch (exercise 3)."""
    frames = render_patches(f.x, f.h, azimuths, phi, pixels, fov_deg)
    b, t, s = frames.shape[:3]
    a, z = frames[:, :-1].reshape(-1, pixels, pixels), frames[:, 1:].reshape(-1, pixels, pixels)
    px, _ = lucas_kanade(a, z, window=None, levels=2, iterations=LK_ITERATIONS)
    focal = (pixels / 2) / np.tan(np.radians(fov_deg) / 2)
    rate = -px.reshape(b, t - 1, s, 2) * (1.0 / (focal * (f.t[0, 1] - f.t[0, 0])))  # (along, across)
    c, s_ = np.cos(np.asarray(azimuths)), np.sin(np.asarray(azimuths))
    body = rate[..., :1] * np.stack([c, s_], -1) + rate[..., 1:] * np.stack([-s_, c], -1)   # u_α, u_α⊥
    # Frame pair (k, k+1) measures the flow around k+½; the first sample has no earlier frame.
    return np.concatenate([np.full((b, 1, s, 2), np.nan), body], axis=1)


# ---- 5. Height from divergence: the Extended Kalman Filter, eqs. (C)–(E) ---------------------------
# State (h, v_z, b_z); per the club's slides, the IMU's a_z drives a double integrator (C)–(D):
#   h⁺ = h + Δt v_z + ½Δt² (u - b_z),  v_z⁺ = v_z + Δt (u - b_z),  b_z⁺ = b_z    (C); Q: (D)
#   z = ω_div = v_z / h + noise,          H = ∂z/∂x = (-v_z/h², 1/h, 0)                         (E)
# h is observable only because v_z changes (the IMU gives v_z in m/s, the flow v_z/h). Without
# oscillation H has almost no h-component (`height_std_ratio` measures it), and the EKF drifts up:
# linearised at its own v̂_z = e_v, each update adds ≈ +P_hh e_v²/ĥ³ whatever the sign of e_v. The
# standard fix, inverse height (`estimate_inverse_height`), makes the measurement linear; it cannot
# create the missing information, but its σ then says so.

def extended_kalman_filter(u: Array, z: Array, x0: Array, p0: Array, a: Array, b: Array, q: Array, r: Array,
                           h_fn: Callable[[Array], Array], h_jac: Callable[[Array], Array]) -> tuple[Array, Array]:
    """EKF with a linear process x⁺ = A x + B u and a nonlinear measurement z = h(x), batched.
    u: (N, T, p) inputs; z: (N, T, m) measurements (NaN = no update at that step);
    x0: (N, n) or (n,); p0: (n, n); a: (n, n); b: (n, p); q: (n, n); r: (m, m) or (N, T, m, m).
    h_fn maps (N, n) → (N, m); h_jac maps (N, n) → (N, m, n).
    At step k the filter predicts with u[k-1] (k > 0), then updates with z[k].
    Returns the filtered states (N, T, n) and covariances (N, T, n, n).
    """
    u, z = np.asarray(u, dtype=float), np.asarray(z, dtype=float)
    if u.ndim != 3 or z.ndim != 3 or u.shape[:2] != z.shape[:2]:
        raise ValueError(f"u, z: expected (N, T, p) and (N, T, m) with the same N, T, got {u.shape}, {z.shape}")
    n_batch, steps, m = z.shape
    n = a.shape[0]
    if a.shape != (n, n) or b.shape != (n, u.shape[2]) or q.shape != (n, n) or p0.shape != (n, n):
        raise ValueError(f"a, b, q, p0: expected ({n},{n}), ({n},{u.shape[2]}), ({n},{n}), ({n},{n}), "
                         f"got {a.shape}, {b.shape}, {q.shape}, {p0.shape}")
    r = np.broadcast_to(np.asarray(r, dtype=float), (n_batch, steps, m, m))
    x = np.broadcast_to(np.asarray(x0, dtype=float), (n_batch, n)).copy()
    p = np.broadcast_to(p0, (n_batch, n, n)).copy()
    xs, ps = np.empty((n_batch, steps, n)), np.empty((n_batch, steps, n, n))
    eye = np.eye(n)
    for k in range(steps):
        if k > 0:  # predict, eq. (C)–(D)
            x = x @ a.T + u[:, k - 1] @ b.T
            p = a @ p @ a.T + q
        valid = np.all(np.isfinite(z[:, k]), axis=1)
        if valid.any():  # update, eq. (E), Joseph form keeps P symmetric positive definite
            rk = np.where(valid[:, None, None], r[:, k], np.eye(m))        # no NaN from skipped rows
            hm = h_jac(x)                                                  # (N, m, n)
            innov = np.where(valid[:, None], z[:, k] - h_fn(x), 0.0)
            s = hm @ p @ hm.transpose(0, 2, 1) + rk
            gain = p @ hm.transpose(0, 2, 1) @ np.linalg.inv(s) * valid[:, None, None]
            x = x + np.einsum("bij,bj->bi", gain, innov)
            ikh = eye - gain @ hm
            p = ikh @ p @ ikh.transpose(0, 2, 1) + gain @ rk @ gain.transpose(0, 2, 1)
        xs[:, k], ps[:, k] = x, p
    return xs, ps


HEIGHT_WALK = 1e-8  # m² per step: a tiny random walk on h, so that P_hh never collapses to exactly 0


def process_model(dt: float, acc_noise: float, bias_walk: float, estimate_bias: bool = True,
                  ) -> tuple[Array, Array, Array]:
    """A, B and Q of eqs. (C)–(D) for one step Δt; state (h, v_z, b_z), input the vertical acceleration.
    (C) is the exact discretisation exp(F Δt) of ḣ = v_z, v̇_z = u − b_z, ḃ_z = 0, u held over the step:
    the bias enters the height row as −½Δt² b_z, the speed row as −Δt b_z."""
    check_positive("dt", dt)
    a = np.array([[1.0, dt, -0.5 * dt**2], [0.0, 1.0, -dt], [0.0, 0.0, 1.0]])      # (C)
    b = np.array([[0.5 * dt**2], [dt], [0.0]])
    g = b[:, 0]
    walk = bias_walk**2 * dt if estimate_bias else 0.0     # b_z frozen at 0: the plain (h, v_z) model
    q = np.outer(g, g) * acc_noise**2 + np.diag([HEIGHT_WALK, 0.0, walk])            # (D)
    return a, b, q


def estimate_height(omega_div: Array, div_var: Array, imu_az: Array, dt: float, h_prior: float,
                    acc_noise: float = 0.1, bias_walk: float = 1e-3, estimate_bias: bool = True,
                    ) -> tuple[Array, Array]:
    """The height EKF: ĥ(t) from ω_div (B, T), driven by the IMU's vertical acceleration (B, T).

    acc_noise: the IMU's assumed white noise in m/s²; div_var: (B, T) variance of ω_div;
    h_prior: the initial guess (the nominal height).
    Returns ĥ (B, T) and its standard deviation (B, T).
    """
    omega_div, imu_az = np.asarray(omega_div, dtype=float), np.asarray(imu_az, dtype=float)
    check_arg(omega_div.shape == imu_az.shape and omega_div.ndim == 2, "omega_div, imu_az",
              "two (B, T) arrays", f"{omega_div.shape}, {imu_az.shape}")
    check_positive("h_prior", h_prior)
    a, b, q = process_model(dt, acc_noise, bias_walk, estimate_bias)
    p0 = np.diag([(0.5 * h_prior) ** 2, 0.3**2, (0.1 if estimate_bias else 0.0) ** 2])

    # Guard: a wild early estimate must not divide by ~0 (the ground is never closer than 5 cm).
    def h_fn(x: Array) -> Array:
        return (x[:, 1] / np.maximum(x[:, 0], 0.05))[:, None]                       # (E)

    xs, ps = extended_kalman_filter(imu_az[..., None], omega_div[..., None],
                                    np.array([h_prior, 0.0, 0.0]), p0, a, b, q,
                                    np.asarray(div_var)[..., None, None], h_fn, _h_jac)
    return xs[..., 0], np.sqrt(ps[..., 0, 0])


def estimate_inverse_height(omega_div: Array, div_var: Array, imu_az: Array, dt: float, h_prior: float,
                            acc_noise: float = 0.1, bias_walk: float = 1e-3) -> tuple[Array, Array]:
    """The standard fix of the EKF's drift: the same filter in (ρ, w, b_z) = (1/h, v_z/h, b_z).

    The process becomes nonlinear, ρ̇ = −wρ, ẇ = (u − b_z)ρ − w² (linearised per Euler step), and the
    measurement linear, z = w. Same inputs and outputs as `estimate_height` (ĥ = 1/ρ̂, σ_h = σ_ρ/ρ̂²)."""
    (n, steps), eye = omega_div.shape, np.eye(3)
    x = np.tile([1.0 / h_prior, 0.0, 0.0], (n, 1))
    p = np.tile(np.diag([(0.5 / h_prior) ** 2, (0.3 / h_prior) ** 2, 0.1**2]), (n, 1, 1))
    h_hat, h_std = np.empty((n, steps)), np.empty((n, steps))
    for k in range(steps):
        if k:
            rho, w, acc = x[:, 0], x[:, 1], imu_az[:, k - 1] - x[:, 2]
            f = np.zeros((n, 3, 3)) + eye
            f[:, 0, 0], f[:, 0, 1], f[:, 1, 0] = 1 - dt * w, -dt * rho, dt * acc
            f[:, 1, 1], f[:, 1, 2] = 1 - 2 * dt * w, -dt * rho
            x = np.stack([rho - dt * w * rho, w + dt * (acc * rho - w * w), x[:, 2]], -1)
            q = np.zeros((n, 3, 3))
            q[:, 0, 0], q[:, 1, 1], q[:, 2, 2] = HEIGHT_WALK * rho**4, (dt * rho * acc_noise) ** 2, bias_walk**2 * dt
            p = f @ p @ f.transpose(0, 2, 1) + q
        ok = np.isfinite(omega_div[:, k])
        gain = p[:, :, 1] / (p[:, 1, 1] + div_var[:, k])[:, None] * ok[:, None]
        x = x + gain * np.where(ok, omega_div[:, k] - x[:, 1], 0.0)[:, None]
        p = p - gain[:, :, None] * p[:, None, 1, :]
        rho = np.maximum(x[:, 0], 1e-3)
        h_hat[:, k], h_std[:, k] = 1.0 / rho, np.sqrt(p[:, 0, 0]) / rho**2
    return h_hat, h_std


def _h_jac(x: Array) -> Array:
    """H of eq. (E) at states x (N, 3), with the same 5 cm guard as h_fn."""
    hh = np.maximum(x[:, 0], 0.05)
    return np.stack([-x[:, 1] / hh**2, 1.0 / hh, np.zeros_like(hh)], axis=-1)[:, None, :]


def height_std_ratio(h: Array, vz: Array, div_var: Array, dt: float, h_prior: float,
                     acc_noise: float = 0.1, bias_walk: float = 1e-3) -> Array:
    """Observability, free of any estimate: σ_h after the flight over σ_h before it, per flight (B,).

    The covariance recursion of (C)–(E) with H at the TRUE state (h, v_z) (B, T): ≈ 1, the data say
    nothing about h, whatever an estimator makes of them; ≪ 1, h is observable."""
    a, _, q = process_model(dt, acc_noise, bias_walk)
    p = np.broadcast_to(np.diag([(0.5 * h_prior) ** 2, 0.3**2, 0.1**2]), (len(h), 3, 3)).copy()
    hm = _h_jac(np.stack([h, vz, 0 * h], -1).reshape(-1, 3)).reshape(h.shape + (3,))
    for k in range(h.shape[1]):
        p = a @ p @ a.T + q if k else p
        ph = np.einsum("bij,bj->bi", p, hm[:, k])
        p = p - ph[:, :, None] * ph[:, None, :] / (np.einsum("bi,bi->b", hm[:, k], ph) + div_var[:, k])[:, None, None]
    return np.sqrt(p[:, 0, 0]) / (0.5 * h_prior)


# The three strategies (abstract: no, precise or rough prior knowledge of the flow's variations).
# Per the club's slides NPK filters the raw divergence of 2 sensors and PPK/RPK fuse 4; the IMU drives
# the EKF in all. OUR reading of the fusion: a causal least-squares fit of the template the prior
# predicts for ω_div replaces the 4-sensor cue (a matched filter).
#   PPK: the phase θ = ωt + φ of h = h̄ + A sin θ is known: ω_div ≈ c₀ + c₁ cos θ + c₂ sin 2θ.
#   RPK: only the timing ω and a periodic shape: ω_div ≈ c₀ + Σ_{n=1,2} aₙ cos nωt + bₙ sin nωt.

def prior_template(f: Flights, strategy: str, freq: float) -> Array:
    """The basis (B, T, K) of the divergence template that PPK or RPK assumes."""
    if strategy == "ppk":
        return np.stack([np.ones_like(f.t), np.cos(f.osc_phase), np.sin(2 * f.osc_phase)], -1)
    wt = 2 * np.pi * freq * f.t
    return np.stack([np.ones_like(wt), np.cos(wt), np.sin(wt), np.cos(2 * wt), np.sin(2 * wt)], -1)


def template_fit(y: Array, basis: Array, memory: float, dt: float) -> Array:
    """Causal, exponentially weighted least squares of y (B, T) on basis (B, T, K); NaN y skipped.

    Returns the fitted template at each instant (B, T): the cue the prior says is there, given the
    data so far (time constant `memory` s). A small ridge holds the first samples' fit towards 0.
    """
    lam = np.exp(-dt / memory)
    ew = lambda x: lfilter([1.0 - lam], [1.0, -lam], x, axis=1)   # noqa: E731 — causal running mean
    ok = np.isfinite(y)[..., None]
    outer = ew(basis[..., :, None] * basis[..., None, :] * ok[..., None])
    rhs = ew(np.where(ok, np.nan_to_num(y)[..., None] * basis, 0.0))
    ridge = 1e-4 * np.eye(basis.shape[-1])
    coef = np.linalg.solve(outer + ridge, rhs[..., None])[..., 0]
    return np.sum(coef * basis, axis=-1)


def imu_flow_lag(omega_div: Array, imu_az: Array, dt: float, max_lag: float = 0.3) -> float:
    """How late the IMU is relative to the flow (s, > 0: IMU late), from the data alone: the lag that
    best correlates the IMU's vertical speed (integrated, detrended: that absorbs the bias) with
    ω_div = v_z/h over all flights, refined by a parabola through the peak."""
    w = np.nan_to_num(np.asarray(omega_div, dtype=float))
    v = cumulative_trapezoid(np.asarray(imu_az, dtype=float), dx=dt, axis=-1, initial=0.0)
    t = np.arange(v.shape[-1])
    trend = np.polynomial.polynomial.polyfit(t, v.T, 1)                     # (2, B)
    v = v - (trend[0][:, None] + trend[1][:, None] * t)
    w = w - w.mean(axis=-1, keepdims=True)
    n = int(round(max_lag / dt))
    core = slice(n, v.shape[-1] - n)
    corr = np.array([np.sum(v[:, n - k: v.shape[-1] - n - k] * w[:, core]) for k in range(-n, n + 1)])
    i = int(np.clip(np.argmax(corr), 1, 2 * n - 1))
    y0, y1, y2 = corr[i - 1: i + 2]
    return float(-(i - n + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * dt)   # v shifted by −k matched


# ---- 6. Distance: SOFIa, eq. (F), against the baselines, eq. (G) -----------------------------------
#   SOFIa:       d̂(t) = ∫₀ᵗ ĥ(τ) ω_T(τ) dτ          (self-scaled: ĥ from the divergence, eq. E)  (F)
#   raw (fixed): d̂(t) = h_nominal ∫₀ᵗ ω_T(τ) dτ      (right only if the drone flies at h_nominal)
#   IMU:         d̂(t) = ∫∫ a_x,IMU                  (dead reckoning: a bias grows as t²)          (G)

def _fill(x: Array) -> Array:
    """Hold the last finite value along time (unreliable steps); leading NaNs become 0."""
    x = np.asarray(x, dtype=float)
    idx = np.where(np.isfinite(x), np.arange(x.shape[-1]), 0)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    return np.nan_to_num(np.take_along_axis(x, idx, axis=-1))


def sofia_distance(h_hat: Array, omega_t: Array, dt: float) -> Array:
    """eq. (F): integrate the translational flow scaled by the estimated height (rectangle rule)."""
    return np.cumsum(h_hat * _fill(omega_t), axis=-1) * dt


def raw_distance(omega_t: Array, h_nominal: float, dt: float) -> Array:
    """eq. (G): integrate the translational flow scaled by a fixed, assumed height."""
    return np.cumsum(h_nominal * _fill(omega_t), axis=-1) * dt


def imu_distance(imu_ax: Array, dt: float) -> Array:
    """eq. (G): double integration of the forward accelerometer from rest (no visual input)."""
    v = np.cumsum(imu_ax, axis=-1) * dt
    return np.cumsum(v, axis=-1) * dt


# ---- 7. The experiment -----------------------------------------------------------------------------

@dataclass
class RunResult:
    cfg: FlightConfig
    flights: Flights
    flows: Array                 # (B, T, S, 2) sensor flows, rad/s
    omega_t: Array               # (B, T) translational cue
    omega_div: Array             # (B, T) divergence cue
    h_hat: Array                 # (B, T) EKF height
    h_std: Array                 # (B, T) EKF 1-σ
    distances: dict[str, Array]  # 'sofia', 'raw', 'imu' → (B, T) estimated distance
    metrics: dict[str, float] = field(default_factory=dict)


def run(cfg: FlightConfig = FlightConfig(), n_flights: int = 8, n_sensors: Literal[2, 4] = 2,
        flow: Literal["geometry", "lucas-kanade"] = "geometry", strategy: Literal["npk", "ppk", "rpk"] = "npk",
        estimate_bias: bool = True, settle_periods: float = 2.0, pixels: int = 16, fov_deg: float = 8.0,
        flow_scale: float = 1.0, assumed_flow_noise: float | None = None,
        assumed_acc_noise: float | None = None, inverse_height: bool = False, seed: int = 0) -> RunResult:
    """Simulate B flights, extract the cues, run the height filter and the three odometers; summarise.

    strategy: what the cue fusion knows about the oscillation (NPK, PPK, RPK; see section 5).
    inverse_height: filter in (1/h, v_z/h, b_z) (`estimate_inverse_height`) instead of (h, v_z, b_z).
    flow_scale: every sensor's flow multiplied by this common factor (a calibration error).
    assumed_flow_noise, assumed_acc_noise: the noise levels the filter is *told* (None: the true
        ones), to test robustness to a mis-specified R and Q.
    Metrics: height and cue errors after `settle_periods` oscillation periods, and each odometer's
    mean relative final-distance error. The same seed gives the same flights for any settings.
    """
    check_choice("n_sensors", n_sensors, tuple(SENSOR_AZIMUTHS))
    check_choice("flow", flow, ("geometry", "lucas-kanade"))
    check_choice("strategy", strategy, ("npk", "ppk", "rpk"))
    check_positive("flow_scale", flow_scale)
    check_arg(0 <= settle_periods and settle_periods / cfg.osc_freq < 0.9 * cfg.duration, "settle_periods",
              ">= 0 and well inside the flight", settle_periods)
    check_number("n_flights", n_flights, low=1, integer=True)
    rng = np.random.default_rng(seed)
    f = simulate_flights(cfg, n_flights, rng)
    az, phi, dt = np.asarray(SENSOR_AZIMUTHS[n_sensors]), np.radians(cfg.phi_deg), 1.0 / cfg.rate
    if flow == "geometry":
        # Noise is drawn for all four sensors and the first n kept, so 2 and 4 sensors share the
        # fore/aft readings and differ only by the extra pair (common random numbers).
        all_az = np.asarray(SENSOR_AZIMUTHS[4])
        noisy = geometric_flows(f, all_az, phi, cfg.flow_noise, np.random.default_rng([seed, 1]))
        flows, sigma = noisy[:, :, :n_sensors], cfg.flow_noise
    else:
        flows, sigma = lucas_kanade_flows(f, az, phi, pixels, fov_deg), 0.02  # assumed LK noise, rad/s
    flows = flows * flow_scale
    sigma = sigma if assumed_flow_noise is None else assumed_flow_noise
    acc_noise = cfg.acc_noise if assumed_acc_noise is None else assumed_acc_noise

    omega_t, omega_div, unit_var = optic_flow_cues(flows, az, phi)
    if strategy != "npk":   # the prior's template, fitted over the last oscillation period
        omega_div = template_fit(omega_div, prior_template(f, strategy, cfg.osc_freq), 1.0 / cfg.osc_freq, dt)
    args = (omega_div, unit_var * sigma**2, f.imu_az, dt, cfg.h_nominal, acc_noise)
    h_hat, h_std = (estimate_inverse_height(*args) if inverse_height
                    else estimate_height(*args, estimate_bias=estimate_bias))
    dist = {"sofia": sofia_distance(h_hat, omega_t, dt),
            "raw": raw_distance(omega_t, cfg.h_nominal, dt),
            "imu": imu_distance(f.imu_ax, dt)}

    after = f.t[0] >= settle_periods / cfg.osc_freq
    err = h_hat[:, after] - f.h[:, after]
    final = f.x[:, -1]
    metrics = {
        "height_rms_m": float(np.sqrt(np.mean(err**2))),
        "height_rel_rms": float(np.sqrt(np.mean((err / f.h[:, after]) ** 2))),
        "height_bias_m": float(np.mean(err)),
        "height_nees": float(np.mean((err / h_std[:, after]) ** 2)),
        "div_rms_error": float(np.sqrt(np.nanmean((omega_div - f.vz / f.h)[:, after] ** 2))),
        "prior_rel_rms": float(np.sqrt(np.mean((cfg.h_nominal / f.h[:, after] - 1) ** 2))),
        "imu_flow_lag_s": imu_flow_lag(omega_div, f.imu_az, dt),
        **{f"{k}_rel_error": float(np.mean(np.abs(d[:, -1] - final) / final)) for k, d in dist.items()},
    }
    return RunResult(cfg, f, flows, omega_t, omega_div, h_hat, h_std, dist, metrics)
