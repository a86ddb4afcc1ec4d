"""Minimalist Vision with Freeform Pixels: a camera of a few learned pixels, on rendered scenes.

    Klotz, J. & Nayar, S. K. (2024). Minimalist Vision with Freeform Pixels. ECCV 2024.
    arXiv:2501.00142. Predecessor: Pooj, P., Grossberg, M., Belhumeur, P. N. & Nayar, S. K. (2018).
    The Minimalist Camera. BMVC 2018 ("mixels": photodetectors behind fixed, precomputed masks).
    Equation numbers follow a third-party summary (the paper's PDF was not checked): unverified.

A freeform pixel is one photodetector behind a printed mask. It does not see a point of the
scene: it reports the whole scene weighted by the mask's transmittance, p = ∫∫ I(x, y) M(x, y)
dx dy (eq. 1). A handful of such pixels is the first layer of a neural network (the *optical
layer*, computed by light, for free); a small network on a microcontroller is the rest (the
*electronic layer*). Training the two together on images from an ordinary camera gives the
shapes of the masks, which are then printed and put in front of the photodetectors.

Read it top to bottom, in the paper's order: 0. the data the training camera records (a room
seen from above, count the people; a road, a car's speed from pixels read over consecutive
frames); 1. the optical layer (eq. 1 discretised, masks kept in [0, 1] by a sigmoid, optional
binarisation, a photodetector); 2. the electronic layer (a small MLP on the K readings); 3. the
minimalist camera, trained end to end; 4. the baselines (K boxes, random blob masks, a small
full-resolution CNN); 5. training, with optional early stopping; 7. bits per frame; 8. misaligned
masks and the one-off recalibration. (6., the privacy attacker, is `freeform_privacy.py`.)

Kept: eq. (1) on a grid with M_k in [0, 1] (a mask only blocks light); masks and network trained
jointly; a photodetector with shot noise (our addition: a mask that collects more light reads
more precisely), read noise, a gain that sets white to full scale and an n-bit ADC (the authors'
code has read and quantisation noise); manufacturing (binary masks, a minimum feature size,
misalignment, blur); two tasks in the spirit of the prototypes, K ~ 1-16.
Dropped: real optics and hardware (no lens, mask-to-detector geometry, vignetting, spectral
response, solar harvesting, radio); real footage (32×32 grey scenes rendered in code); the paper's
exact tasks and networks. Binarised masks are the club's question, not a result of the paper.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls.common import (check_arg, check_choice, check_number, check_positive, check_shape, device,
                                  seed_everything)

Task = Literal["count", "speed"]
Pixels = Literal["freeform", "conventional", "fixed", "cnn"]
PIXELS = ("freeform", "conventional", "fixed", "cnn")
Binarize = Literal["none", "ste", "anneal"]

ROOM_SIZE = 32          # the room is a 32×32 grey image seen from the ceiling
MAX_PEOPLE = 5          # 0-5 people: six classes
ROAD_SHAPE = (12, 40)   # a strip of road, two lanes
ROAD_FRAMES = 4         # the road pixels are read over 4 consecutive frames
VGA_BITS = 640 * 480 * 8


# ---------------------------------------------------------------------------------------------
# 0. The data: what the training camera records (the paper records real scenes; we render them)
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def texture(name: str, shape: tuple[int, int], low: float, high: float) -> torch.Tensor:
    """A 256×256 crop of a texture that ships with scikit-image, area-downsampled to ``shape``
    and rescaled to [low, high]. 'brick' is the room's tiled floor, 'gravel' the asphalt."""
    import skimage.data

    img = torch.from_numpy(getattr(skimage.data, name)()[:256, :256].astype(np.float32))
    img = F.interpolate(img[None, None], size=shape, mode="area")[0, 0]
    img = (img - img.min()) / (img.max() - img.min())
    return low + (high - low) * img


def _lighting(gain: torch.Tensor, slope: torch.Tensor, angle: torch.Tensor,
              shape: tuple[int, int]) -> torch.Tensor:
    """Global light that drifts: an overall gain times a gentle linear ramp (a window on one side)."""
    h, w = shape
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    ramp = angle.cos()[:, None, None] * x + angle.sin()[:, None, None] * y
    return gain[:, None, None] * (1 + slope[:, None, None] * ramp)


def render_room(centres: torch.Tensor, present: torch.Tensor, gain: torch.Tensor,
                slope: torch.Tensor, angle: torch.Tensor, size: int = ROOM_SIZE) -> torch.Tensor:
    """Render rooms seen from above: (N, P, 2) centres, (N, P) who is present -> (N, size, size).

    The floor is the brick texture, the border band is wall; people are bright Gaussian blobs
    (head and shoulders from above) laid over the floor, and the whole scene is lit by
    ``_lighting``. Composite coverage 1 - prod(1 - a_j) keeps two touching people below 100%.
    """
    floor = texture("brick", (size, size), 0.10, 0.45)
    wall = torch.full((size, size), 0.30)
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[3:-3, 3:-3] = True
    background = torch.where(inside, floor, wall)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                            torch.arange(size, dtype=torch.float32), indexing="ij")
    d2 = (yy - centres[..., 0, None, None]) ** 2 + (xx - centres[..., 1, None, None]) ** 2
    alpha = 0.95 * torch.exp(-d2 / (2 * 1.3 ** 2)) * present[..., None, None]   # (N, P, H, W)
    cover = 1 - torch.prod(1 - alpha, dim=1)
    scene = background * (1 - cover) + 0.60 * cover
    return (scene * _lighting(gain, slope, angle, (size, size))).clamp(0, 1)


def _room_lights(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gain = 0.6 + 0.6 * torch.rand(n, generator=g)          # the room is 2x brighter at noon
    slope = 0.25 * torch.rand(n, generator=g)
    angle = 2 * torch.pi * torch.rand(n, generator=g)
    return gain, slope, angle


def make_room(n: int, size: int = ROOM_SIZE, seed: int = 0, empty: bool = False,
              constant_light: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` independent frames of the room with 0-5 people (uniform) -> (images, counts).

    People stand on a jittered 6×6 grid of spots on the floor, one person per spot, so two
    people never merge into one blob (counting merged blobs is a different, harder task).
    ``empty=True`` renders the same frames (same light) with everybody removed.
    ``constant_light=True`` fixes the light (gain 0.9, no ramp): the ablation that asks how much
    of the learned masks' lead is light normalisation rather than spatial selectivity.
    """
    check_number("n", n, low=1, integer=True)
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, MAX_PEOPLE + 1, (n,), generator=g)
    spots = torch.stack(torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij"), -1)
    spots = (size / 2 - 10 + 4 * spots).reshape(-1, 2)                  # 36 spots 4 px apart
    pick = torch.rand(n, 36, generator=g).argsort(dim=1)[:, :MAX_PEOPLE]  # distinct spots per frame
    centres = spots[pick] + torch.rand(n, MAX_PEOPLE, 2, generator=g) * 2 - 1
    present = (torch.arange(MAX_PEOPLE)[None, :] < counts[:, None]) & (not empty)
    gain, slope, angle = _room_lights(n, g)
    if constant_light:
        gain, slope = torch.full_like(gain, 0.9), torch.zeros_like(slope)
    return render_room(centres, present.float(), gain, slope, angle, size=size), counts


def room_walk(n_frames: int = 48, n_people: int = 3, size: int = ROOM_SIZE,
              seed: int = 0) -> torch.Tensor:
    """A short clip of ``n_people`` walking about while the light drifts, for the animation."""
    check_number("n_people", n_people, low=0, high=MAX_PEOPLE, integer=True)
    g = torch.Generator().manual_seed(seed)
    start = 6 + (size - 12) * torch.rand(n_people, 2, generator=g)
    heading = 2 * torch.pi * torch.rand(n_people, generator=g)
    turn = torch.cumsum(0.3 * torch.randn(n_frames, n_people, generator=g), 0) + heading
    steps = 0.6 * torch.stack([turn.sin(), turn.cos()], -1)
    centres = start + torch.cumsum(steps, 0)
    # reflect off the walls: fold the walk back into [5, size - 5]
    lo, span = 5.0, size - 10.0
    centres = lo + span - ((centres - lo) % (2 * span) - span).abs()
    t = torch.linspace(0, 1, n_frames)
    gain, slope, angle = 0.6 + 0.5 * t, 0.2 * torch.ones(n_frames), 0.5 + 2 * t
    return render_room(centres, torch.ones(n_frames, n_people), gain, slope, angle, size)


def render_road(x0: torch.Tensor, speed: torch.Tensor, lane: torch.Tensor, shade: torch.Tensor,
                gain: torch.Tensor, frames: int = ROAD_FRAMES,
                shape: tuple[int, int] = ROAD_SHAPE) -> torch.Tensor:
    """Clips of one car crossing a two-lane road -> (N, frames, H, W).

    The car is a 7×3 box at sub-pixel position x0 + speed·t; its coverage of each pixel column
    is the overlap of [x, x+1) with the box, so a slow car still changes the image smoothly.
    """
    h, w = shape
    road = texture("gravel", shape, 0.25, 0.45).clone()
    road[h // 2 - 1: h // 2 + 1, (torch.arange(w) // 4) % 2 == 0] = 0.8     # dashed centre line
    t = torch.arange(frames, dtype=torch.float32)
    left = x0[:, None] + speed[:, None] * t                                 # (N, T)
    cols = torch.arange(w, dtype=torch.float32)
    cover_x = (torch.minimum(cols + 1, left[..., None] + 7) - torch.maximum(cols, left[..., None])).clamp(0, 1)
    rows = torch.arange(h)
    top = torch.where(lane == 0, 1, h // 2 + 2)
    cover_y = ((rows >= top[:, None]) & (rows < top[:, None] + 3)).float()  # (N, H)
    cover = cover_y[:, None, :, None] * cover_x[:, :, None, :]              # (N, T, H, W)
    clip = road * (1 - cover) + shade[:, None, None, None] * cover
    return (clip * gain[:, None, None, None]).clamp(0, 1)


def make_road(n: int, frames: int = ROAD_FRAMES, shape: tuple[int, int] = ROAD_SHAPE,
              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` clips of a car at 0.5-3 px/frame -> (clips (n, frames, H, W), speeds (n,))."""
    check_number("n", n, low=1, integer=True)
    check_number("frames", frames, low=2, integer=True)
    g = torch.Generator().manual_seed(seed)
    speed = 0.5 + 2.5 * torch.rand(n, generator=g)
    room = shape[1] - 7 - speed * (frames - 1)                  # the car stays in view throughout
    x0 = room * torch.rand(n, generator=g)
    lane = torch.randint(0, 2, (n,), generator=g)
    dark = torch.rand(n, generator=g) < 0.5                      # dark and light cars
    shade = torch.where(dark, 0.05, 0.85) + 0.1 * torch.rand(n, generator=g)
    gain = 0.6 + 0.6 * torch.rand(n, generator=g)
    return render_road(x0, speed, lane, shade, gain, frames, shape), speed


# ---------------------------------------------------------------------------------------------
# 1. The optical layer: freeform pixels, eq. (1)
# ---------------------------------------------------------------------------------------------

def measure(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Eq. (1) on a pixel grid: m_k = sum_xy M_k(x, y) I(x, y).  (..., H, W), (K, H, W) -> (..., K).

    This is a fully connected layer without bias whose weights are the masks: the "first layer of
    the network" is computed by light falling through a printed transparency.
    """
    if masks.dim() != 3:
        raise ValueError(f"masks: expected shape (K, H, W), got {tuple(masks.shape)}")
    if images.dim() < 2 or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"images: expected shape (..., {masks.shape[1]}, {masks.shape[2]}) "
                         f"to match the masks, got {tuple(images.shape)}")
    return images.flatten(-2) @ masks.flatten(1).T


class QuantizeSTE(torch.autograd.Function):
    """Round to the ADC's levels in the forward pass, pass the gradient through unchanged."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, levels: int) -> torch.Tensor:
        return torch.round(x * levels) / levels

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


PHOTONS = 200.0     # photo-electrons a fully open grid cell collects per frame from a white scene
READ_NOISE = 5.0    # read noise of the amplifier, in electrons
AFTER_GAIN_STD = 1e-3   # the mistake's noise: a fixed fraction of full scale, whatever the mask collects


def photodetector(m: torch.Tensor, full_scale: torch.Tensor, photons: float | None = PHOTONS,
                  read_noise: float = READ_NOISE, bits: int | None = 12,
                  noise_after_gain: bool = False) -> torch.Tensor:
    """Turn light into numbers: photo-electrons with shot and read noise, gain, ADC.

    ``m`` (..., K) is the light each pixel collects (eq. 1, in grid cells × irradiance) and
    ``full_scale`` (K,) what it would collect from a white scene (the mask's open area). With
    ``photons`` electrons per open cell, pixel k counts e_k = photons · m_k electrons, with shot
    noise of variance e_k (Poisson, in its Gaussian form so gradients flow) plus read noise: the
    relative noise is 1/sqrt(e_k), so a mask that collects more light reads more precisely and mask
    design trades what it blocks against signal. Then the amplifier gain divides by
    photons · full_scale (a white scene reads 1) and the ADC rounds to ``bits``.
    ``photons=None`` is a noiseless detector.

    ``noise_after_gain=True`` is a classic mistake, kept for the tests (and this toy's first version):
    a fixed noise is added after the gain, in full-scale units, so every pixel has the same relative
    noise whatever light it collects, and a pinhole mask reads as precisely as an open one.
    """
    scale = full_scale.clamp_min(1e-6)
    x = m / scale
    if photons is not None:
        if noise_after_gain:
            x = x + AFTER_GAIN_STD * torch.randn_like(x)            # the same for every mask
        else:
            e = photons * m.clamp_min(0)
            sigma = torch.sqrt(e + read_noise ** 2)
            x = (e + sigma * torch.randn_like(e)) / (photons * scale)
    x = x.clamp(0, 1)
    if bits:
        x = QuantizeSTE.apply(x, 2 ** bits - 1)
    return x


@torch.no_grad()
def reading_snr(optics: "Optics", scene: torch.Tensor, draws: int = 2000, seed: int = 0) -> torch.Tensor:
    """Signal-to-noise ratio of each pixel's reading of one ``scene`` (H, W), measured over
    ``draws`` noisy readings: mean / standard deviation, shape (K,). With shot noise it grows like
    the square root of the light the mask collects."""
    torch.manual_seed(seed)
    r = optics(scene.expand(draws, *scene.shape))
    return r.mean(0) / r.std(0).clamp_min(1e-12)


class BinarizeSTE(torch.autograd.Function):
    """Forward: threshold the soft mask at 1/2 (a binary print). Backward: the soft mask's gradient."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, soft: torch.Tensor) -> torch.Tensor:
        return (soft > 0.5).to(soft.dtype)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def misalign(masks: torch.Tensor, shift: tuple[int, int] = (0, 0), blur: float = 0.0) -> torch.Tensor:
    """The masks as the hardware may see them: moved by ``shift`` = (dy, dx) grid cells (what
    leaves the grid is lost, what enters is opaque) and blurred by a Gaussian of ``blur`` cells
    (the mask printed slightly out of focus, or the detector's finite size). (K, H, W) -> (K, H, W)."""
    dy, dx = shift
    h, w = masks.shape[-2:]
    if dy or dx:
        padded = F.pad(masks, (abs(dx), abs(dx), abs(dy), abs(dy)))
        masks = padded[..., abs(dy) - dy: abs(dy) - dy + h, abs(dx) - dx: abs(dx) - dx + w]
    if blur > 0:
        r = int(math.ceil(3 * blur))
        g = torch.exp(-torch.arange(-r, r + 1, dtype=masks.dtype, device=masks.device) ** 2 / (2 * blur ** 2))
        g = g / g.sum()
        x = F.conv2d(F.pad(masks[:, None], (r, r, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
        masks = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), g.view(1, 1, -1, 1))[:, 0]
    return masks


class Optics(nn.Module):
    """K pixels, each one photodetector behind a mask: ``masks()`` (K, H, W), ``forward`` the readings.

    ``shift`` and ``blur`` (set them at evaluation) apply ``misalign`` to the masks the light meets,
    while the gain stays calibrated for the intended mask: the hardware error the camera must survive.
    """

    def __init__(self, k: int, shape: tuple[int, int], photons: float | None = PHOTONS,
                 bits: int | None = 12, noise_after_gain: bool = False) -> None:
        super().__init__()
        check_number("k", k, low=1, integer=True)
        if photons is not None:
            check_positive("photons", photons)
        self.k, self.shape, self.photons, self.bits = k, tuple(shape), photons, bits
        self.noise_after_gain = noise_after_gain
        self.shift, self.blur = (0, 0), 0.0

    def masks(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, scenes: torch.Tensor) -> torch.Tensor:
        """scenes (..., H, W) -> readings (..., K): eq. (1), then the photodetector."""
        masks = self.masks()
        seen = misalign(masks, self.shift, self.blur) if (self.shift != (0, 0) or self.blur) else masks
        return photodetector(measure(scenes, seen), masks.sum((-2, -1)), self.photons, READ_NOISE,
                             self.bits, self.noise_after_gain)


class FreeformPixels(Optics):
    """K learned masks M_k = sigmoid(theta_k / tau) in [0, 1]: the optical layer.

    The sigmoid keeps each mask a physical transmittance whatever the optimiser does to theta.
    ``feature`` is the smallest feature a printer can make, in grid cells: theta lives on a grid
    ``feature`` times coarser and each value paints a feature × feature block, so a binarised mask
    has no island or hole smaller than that (a single-cell island would not survive printing).
    ``binarize`` prepares masks for a binary (ink / no ink) print:
      'none'   - grey-level masks, thresholded only if ``hard`` is set at evaluation;
      'ste'    - always threshold in the forward pass, straight-through gradient in the backward;
      'anneal' - the trainer lowers the temperature tau from 1 towards 0, so the sigmoid becomes a step.
    ``straight_through=False`` thresholds without the straight-through gradient (a mistake, for tests).
    """

    def __init__(self, k: int, shape: tuple[int, int], binarize: Binarize = "none",
                 photons: float | None = PHOTONS, bits: int | None = 12, feature: int = 1,
                 noise_after_gain: bool = False, constrain: bool = True,
                 straight_through: bool = True) -> None:
        super().__init__(k, shape, photons, bits, noise_after_gain)
        check_choice("binarize", binarize, ("none", "ste", "anneal"))
        check_number("feature", feature, low=1, integer=True)
        check_arg(self.shape[0] % feature == 0 and self.shape[1] % feature == 0, "feature",
                  f"a divisor of both sides of the {self.shape[0]}×{self.shape[1]} grid", feature)
        self.binarize, self.feature = binarize, feature
        self.constrain, self.straight_through = constrain, straight_through
        # Start from random speckle around grey: every pixel sees a bit of everything, and the
        # K pixels differ from the start (identical masks would get identical gradients).
        self.theta = nn.Parameter(torch.randn(k, self.shape[0] // feature, self.shape[1] // feature))
        self.tau = 1.0
        self.hard = False

    def masks(self) -> torch.Tensor:
        theta = self.theta
        if self.feature > 1:
            theta = theta.repeat_interleave(self.feature, -2).repeat_interleave(self.feature, -1)
        if not self.constrain:          # a mistake kept for the tests: weights, not transmittances
            return theta
        soft = torch.sigmoid(theta / self.tau)
        if self.binarize == "ste":
            return BinarizeSTE.apply(soft) if self.straight_through else (soft > 0.5).to(soft.dtype)
        if self.hard:
            return (soft > 0.5).to(soft.dtype)
        return soft


def block_masks(k: int, shape: tuple[int, int]) -> torch.Tensor:
    """K conventional pixels as masks: a grid of r×c = K boxes tiling the image. -> (K, H, W).

    Among the factorisations of K we pick the grid whose cells are closest to square, so K = 4 is
    a 2×2 grid on the square room and a 1×4 row on the long road.
    """
    check_number("k", k, low=1, integer=True)
    h, w = shape
    r = min((d for d in range(1, k + 1) if k % d == 0),
            key=lambda d: abs(np.log((h / d) / (w / (k // d)))))
    c = k // r
    if r > h or c > w:
        raise ValueError(f"k: expected a grid of boxes that fits a {h}×{w} image, got k={k} ({r}×{c} boxes)")
    row = torch.arange(h) * r // h
    col = torch.arange(w) * c // w
    cell = row[:, None] * c + col[None, :]
    return (cell[None] == torch.arange(k)[:, None, None]).float()


def roughness(masks: torch.Tensor) -> float:
    """Mean |difference| between neighbouring cells of the masks: 0 for flat masks, ~0.5 for binary
    salt-and-pepper. The smoothness a random control must match."""
    dy = (masks[..., 1:, :] - masks[..., :-1, :]).abs().mean()
    dx = (masks[..., :, 1:] - masks[..., :, :-1]).abs().mean()
    return float((dx + dy) / 2)


def blob_masks(k: int, shape: tuple[int, int], coverage: float, sigma: float,
               seed: int = 0) -> torch.Tensor:
    """K random binary masks made of blobs: white noise blurred by a Gaussian of ``sigma`` cells and
    thresholded so that a fraction ``coverage`` of each mask is open. (K, H, W) in {0, 1}.

    This is the fair control for learned masks: printable, as open and as smooth as they are, only
    not learned. (Speckle masks sigmoid(randn) are not: each cell is grey and independent, so every
    pixel reads the scene's mean brightness and the control is doomed from the start.)
    """
    check_number("k", k, low=1, integer=True)
    check_number("coverage", coverage, low=0, high=1, strict_low=True)
    check_positive("sigma", sigma)
    g = torch.Generator().manual_seed(seed)
    field = misalign(torch.randn(k, *shape, generator=g), blur=sigma)
    level = torch.quantile(field.flatten(1), 1 - coverage, dim=1)
    return (field > level[:, None, None]).float()


def matched_blob_masks(learned: torch.Tensor, seed: int = 0,
                       sigmas: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)) -> torch.Tensor:
    """Random blob masks with the ``learned`` masks' coverage (mean transmittance) and the blur
    whose roughness comes closest to theirs (after binarising them at 1/2)."""
    check_shape("learned", learned, (None, None, None))
    k, shape = learned.shape[0], tuple(learned.shape[1:])
    coverage = float(learned.mean().clamp(0.02, 0.98))
    target = roughness((learned > 0.5).float())
    best = min(sigmas, key=lambda s: abs(roughness(blob_masks(k, shape, coverage, s, seed)) - target))
    return blob_masks(k, shape, coverage, best, seed)


def smallest_feature(mask: torch.Tensor) -> int:
    """The size, in cells, of the smallest island of ink or of clear in a binary mask (H, W)
    (4-connected components): what a printer would have to reproduce."""
    from scipy import ndimage

    m = mask.detach().cpu().numpy() > 0.5
    sizes = []
    for part in (m, ~m):
        labels, n = ndimage.label(part)
        if n:
            sizes.append(np.bincount(labels.ravel())[1:].min())
    return int(min(sizes)) if sizes else 0


class FixedPixels(Optics):
    """Pixels behind given, fixed masks (K, H, W): conventional boxes, or a random control."""

    def __init__(self, masks: torch.Tensor, photons: float | None = PHOTONS, bits: int | None = 12,
                 noise_after_gain: bool = False) -> None:
        check_shape("masks", masks, (None, None, None))
        super().__init__(masks.shape[0], tuple(masks.shape[1:]), photons, bits, noise_after_gain)
        self.register_buffer("fixed", masks.float().clone())

    def masks(self) -> torch.Tensor:
        return self.fixed


class ConventionalPixels(FixedPixels):
    """The baseline: K square pixels, i.e. freeform pixels whose masks are fixed boxes."""

    def __init__(self, k: int, shape: tuple[int, int], photons: float | None = PHOTONS,
                 bits: int | None = 12, noise_after_gain: bool = False) -> None:
        check_number("k", k, low=1, integer=True)
        super().__init__(block_masks(k, shape), photons, bits, noise_after_gain)


# ---------------------------------------------------------------------------------------------
# 2. The electronic layer: a small network on the microcontroller
# ---------------------------------------------------------------------------------------------

class Electronics(nn.Module):
    """readings (N, D) -> log -> standardise -> MLP -> (N, n_out).

    The log turns the drifting global light, which multiplies every reading, into an additive
    offset that a linear layer can subtract; the (non-affine) batch norm is the calibration a
    microcontroller would do once: remove each reading's mean and scale.
    """

    def __init__(self, n_in: int, n_out: int, hidden: int = 64, floor: float = 1 / 4095) -> None:
        super().__init__()
        self.floor = floor
        self.norm = nn.BatchNorm1d(n_in, affine=False)
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, n_out))

    def forward(self, readings: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(readings.clamp_min(self.floor).log()))


# ---------------------------------------------------------------------------------------------
# 3. The minimalist camera: optical layer + electronic layer, trained end to end
# ---------------------------------------------------------------------------------------------

class MinimalistCamera(nn.Module):
    """scenes (N, H, W) or clips (N, T, H, W) -> K readings per frame -> the answer.

    For clips the same K masks are read T times and the network sees all K·T numbers, the way the
    traffic camera compares consecutive readings to get a speed.
    """

    def __init__(self, optics: Optics, n_out: int, frames: int = 1, hidden: int = 64) -> None:
        super().__init__()
        self.optics, self.frames = optics, frames
        bits = optics.bits or 12
        self.electronics = Electronics(optics.k * frames, n_out, hidden, floor=1 / (2 ** bits - 1))

    def expected_shape(self) -> tuple[int | None, ...]:
        h, w = self.optics.shape
        return (None, h, w) if self.frames == 1 else (None, self.frames, h, w)

    def readings(self, scenes: torch.Tensor) -> torch.Tensor:
        """What the camera transmits: K numbers per frame, (N, K) or (N, T, K)."""
        check_shape("scenes", scenes, self.expected_shape())
        return self.optics(scenes)

    def forward(self, scenes: torch.Tensor) -> torch.Tensor:
        return self.electronics(self.readings(scenes).flatten(1))


# ---------------------------------------------------------------------------------------------
# 4. The reference: a small CNN that sees every pixel of a full-resolution camera
# ---------------------------------------------------------------------------------------------

class FullResCNN(nn.Module):
    """scenes (N, [T,] H, W) -> the answer, through the same photodetector at every pixel.

    Like the electronic layer it works on log readings minus their mean, so the drifting light is
    an offset; global average pooling at the end makes it a "detect everywhere, add up" counter.
    """

    def __init__(self, shape: tuple[int, int], n_out: int, frames: int = 1, width: int = 8,
                 photons: float | None = PHOTONS, bits: int | None = 12) -> None:
        super().__init__()
        self.shape, self.frames, self.photons, self.bits = tuple(shape), frames, photons, bits

        def block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        # a stride-2 first layer keeps it cheap on a laptop CPU; blobs are ~3 px wide, so little is lost
        self.net = nn.Sequential(*block(frames, width, 2), *block(width, 2 * width), nn.MaxPool2d(2),
                                 *block(2 * width, 2 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(2 * width, n_out))

    def forward(self, scenes: torch.Tensor) -> torch.Tensor:
        h, w = self.shape
        check_shape("scenes", scenes, (None, h, w) if self.frames == 1 else (None, self.frames, h, w))
        x = scenes.reshape(-1, self.frames, h, w)
        x = photodetector(x, torch.ones((), device=x.device), self.photons, READ_NOISE, self.bits)  # one cell each
        x = x.clamp_min(1 / (2 ** (self.bits or 12) - 1)).log()
        return self.net(x - x.mean((-3, -2, -1), keepdim=True))


# ---------------------------------------------------------------------------------------------
# 5. Training and evaluation
# ---------------------------------------------------------------------------------------------

@dataclass
class Data:
    """Train / test split of one task, kept on the CPU; `train` moves batches to the device."""

    task: Task
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.x_train.shape[-2:])

    @property
    def frames(self) -> int:
        return 1 if self.x_train.dim() == 3 else self.x_train.shape[1]     # (N, H, W): one frame


def make_data(task: Task = "count", n_train: int = 3000, n_test: int = 1000, seed: int = 0,
              constant_light: bool = False) -> Data:
    """Render a task's train and test sets with different seeds (no frame is in both)."""
    check_choice("task", task, ("count", "speed"))
    maker = functools.partial(make_room, constant_light=constant_light) if task == "count" else make_road
    x_tr, y_tr = maker(n_train, seed=2 * seed)
    x_te, y_te = maker(n_test, seed=2 * seed + 1)
    return Data(task, x_tr, y_tr, x_te, y_te)


@dataclass
class Result:
    """A trained model and its test score: accuracy for 'count', mean absolute error for 'speed'."""

    model: nn.Module
    score: float
    metric: str
    losses: list[float] = field(default_factory=list)
    val_scores: list[float] = field(default_factory=list)    # per epoch, with early stopping


def build(task: Task, pixels: Pixels, k: int, shape: tuple[int, int], frames: int = 1,
          binarize: Binarize = "none", photons: float | None = PHOTONS, bits: int | None = 12, *,
          masks: torch.Tensor | None = None, feature: int = 1, width: int = 8,
          noise_after_gain: bool = False) -> nn.Module:
    """The cameras of the comparison, with the same photodetector and the same head.

    'freeform': K learned masks; 'conventional': K boxes; 'fixed': the given ``masks`` (K, H, W),
    e.g. a random control; 'cnn': every cell of the grid is its own tiny pixel.
    """
    check_choice("pixels", pixels, PIXELS)
    n_out = MAX_PEOPLE + 1 if task == "count" else 1
    if pixels == "cnn":
        return FullResCNN(shape, n_out, frames, width=width, photons=photons, bits=bits)
    if pixels == "fixed":
        check_arg(masks is not None, "masks", "a (K, H, W) tensor of masks for pixels='fixed'", masks)
        check_shape("masks", masks, (None, *shape))
        optics: Optics = FixedPixels(masks, photons, bits, noise_after_gain)
    elif pixels == "freeform":
        optics = FreeformPixels(k, shape, binarize, photons, bits, feature, noise_after_gain)
    else:
        optics = ConventionalPixels(k, shape, photons, bits, noise_after_gain)
    return MinimalistCamera(optics, n_out, frames)


def _loss(task: Task, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y) if task == "count" else F.smooth_l1_loss(out[:, 0], y)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: Task,
             hard: bool = False, seed: int = 1234, shift: tuple[int, int] = (0, 0),
             blur: float = 0.0) -> float:
    """Test score with fresh (seeded) sensor noise: accuracy for 'count', mean absolute error for 'speed'.

    ``hard`` thresholds freeform masks at 1/2; ``shift`` (cells) and ``blur`` (a Gaussian's sigma
    in cells) misalign the masks the light meets, as a mask glued 1 px off or printed soft would.
    """
    dev = next(model.parameters()).device
    optics = getattr(model, "optics", None)
    if hard and not isinstance(optics, FreeformPixels):
        raise ValueError(f"hard: only freeform pixels have masks to binarise, got a {type(model).__name__}")
    if (shift != (0, 0) or blur) and not isinstance(optics, Optics):
        raise ValueError(f"shift: only cameras with masks can be misaligned, got a {type(model).__name__}")
    model.eval()
    was_hard = optics.hard if isinstance(optics, FreeformPixels) else False
    if isinstance(optics, FreeformPixels):
        optics.hard = hard or was_hard
    if isinstance(optics, Optics):
        optics.shift, optics.blur = tuple(shift), float(blur)
    torch.manual_seed(seed)
    try:
        out = torch.cat([model(xb.to(dev)) for xb in x.split(1024)]).cpu()
    finally:
        if isinstance(optics, FreeformPixels):
            optics.hard = was_hard
        if isinstance(optics, Optics):
            optics.shift, optics.blur = (0, 0), 0.0
    if task == "count":
        return (out.argmax(1) == y).float().mean().item()
    return (out[:, 0] - y).abs().mean().item()


def train(task: Task = "count", pixels: Pixels = "freeform", k: int = 4, *, data: Data | None = None,
          binarize: Binarize = "none", epochs: int = 30, batch_size: int = 128, lr: float = 3e-3,
          mask_lr: float = 0.1, photons: float | None = PHOTONS, bits: int | None = 12,
          masks: torch.Tensor | None = None, feature: int = 1, width: int = 8, mask_jitter: int = 0,
          noise_after_gain: bool = False, n_train: int = 3000, n_test: int = 1000, seed: int = 0,
          val_fraction: float = 0.0, patience: int = 8) -> Result:
    """Train one camera end to end and score it on the test set.

    The masks get their own, larger learning rate: theta lives in logit units, where a step of
    0.1 barely moves a grey mask but lets a mask commit to black or white within a few epochs.
    ``mask_lr=0`` freezes the random initial masks; ``pixels='fixed'`` with ``masks`` trains only the
    network behind given masks (the random-blob control). With ``binarize='anneal'`` the sigmoid
    temperature falls geometrically from 1 to 0.02. ``mask_jitter=j`` shifts the masks by a random
    -j..j cells every batch, so the design tolerates misalignment (the authors' code blurs the
    masks for the same purpose). ``val_fraction > 0`` holds out that share of the training frames
    and stops early, as the authors train: after ``patience`` epochs without a better validation
    score it stops and restores the best epoch (``epochs`` is then a ceiling).
    """
    check_choice("task", task, ("count", "speed"))
    check_choice("pixels", pixels, PIXELS)
    check_number("k", k, low=1, integer=True)
    check_choice("binarize", binarize, ("none", "ste", "anneal"))
    if binarize != "none" and pixels != "freeform":
        raise ValueError(f"binarize: only freeform pixels can be binarised, got {binarize!r} with pixels={pixels!r}")
    check_number("epochs", epochs, low=1, integer=True)
    check_number("batch_size", batch_size, low=2, integer=True)
    check_number("mask_jitter", mask_jitter, low=0, integer=True)
    check_number("val_fraction", val_fraction, low=0, high=0.5)
    if bits is not None:
        check_number("bits", bits, low=1, high=24, integer=True)
    for name, value in (("mask_lr", mask_lr), ("lr", lr)):
        check_number(name, value, low=0)
    if photons is not None:
        check_positive("photons", photons)
    if pixels == "fixed":
        check_arg(masks is not None, "masks", "a (K, H, W) tensor of masks for pixels='fixed'", masks)
    if data is None:
        data = make_data(task, n_train, n_test, seed)
    elif data.task != task:
        raise ValueError(f"data: expected a {task!r} data set, got one for {data.task!r}")
    gen = seed_everything(seed)
    dev = device()
    x_fit, y_fit = data.x_train, data.y_train
    if val_fraction:
        order = torch.randperm(len(x_fit), generator=gen)
        n_val = int(round(val_fraction * len(x_fit)))
        x_val, y_val = x_fit[order[:n_val]], y_fit[order[:n_val]]
        x_fit, y_fit = x_fit[order[n_val:]], y_fit[order[n_val:]]
    model = build(task, pixels, k, data.shape, data.frames, binarize, photons, bits, masks=masks,
                  feature=feature, width=width, noise_after_gain=noise_after_gain).to(dev)
    optics = getattr(model, "optics", None)
    thetas = [p for n, p in model.named_parameters() if n.endswith("theta")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("theta")]
    opt = torch.optim.Adam([{"params": rest, "lr": lr}, {"params": thetas, "lr": mask_lr}])
    n = len(x_fit)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr, mask_lr], total_steps=steps,
                                                pct_start=0.15)
    losses: list[float] = []
    val_scores: list[float] = []
    best: tuple[float, int, dict] | None = None
    for epoch in range(epochs):
        if binarize == "anneal":
            optics.tau = 0.02 ** (epoch / max(epochs - 1, 1))
        model.train()
        total = 0.0
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            if len(idx) < 2:       # batch norm needs two samples
                continue
            if mask_jitter and isinstance(optics, Optics):
                optics.shift = tuple(torch.randint(-mask_jitter, mask_jitter + 1, (2,), generator=gen).tolist())
            loss = _loss(task, model(x_fit[idx].to(dev)), y_fit[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
        if val_fraction:
            val_scores.append(evaluate(model, x_val, y_val, task, seed=seed + 77))
            better = val_scores[-1] if task == "count" else -val_scores[-1]     # accuracy up, MAE down
            if best is None or better > best[0]:
                best = (better, epoch, {key: v.detach().clone() for key, v in model.state_dict().items()})
            elif epoch - best[1] >= patience:
                break
    if best is not None:
        model.load_state_dict(best[2])
    if isinstance(optics, Optics):
        optics.shift = (0, 0)
    if mask_jitter:
        # batch norm saw a different shift in every batch; calibrate once for the mounted masks
        recalibrate(model, data.x_train)
    score = evaluate(model, data.x_test, data.y_test, task, hard=binarize == "anneal", seed=1234 + seed)
    return Result(model, score, "accuracy" if task == "count" else "mae", losses, val_scores)


# ---------------------------------------------------------------------------------------------
# 7. Bits per frame: what the minimalist camera sends, against a VGA camera
# ---------------------------------------------------------------------------------------------

def bits_per_frame(k: int, bits: int = 12) -> int:
    """K readings of ``bits`` each: the whole frame of a minimalist camera."""
    check_number("k", k, low=1, integer=True)
    check_number("bits", bits, low=1, high=24, integer=True)
    return k * bits


# ---------------------------------------------------------------------------------------------
# 8. Manufacturing: misaligned or blurred masks, and the one-off calibration that absorbs them
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def recalibrate(model: nn.Module, scenes: torch.Tensor, shift: tuple[int, int] = (0, 0),
                blur: float = 0.0, seed: int = 99) -> nn.Module:
    """Re-measure the electronic layer's calibration (the batch-norm mean and scale of each log
    reading) on *unlabelled* frames seen through the misaligned masks, as an installer would do
    once after mounting the camera. Only the statistics change; no weight is retrained."""
    dev = next(model.parameters()).device
    optics = getattr(model, "optics", None)
    check_arg(isinstance(optics, Optics), "model", "a camera with masks", type(model).__name__)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    saved = [m.momentum for m in norms]
    model.train()
    optics.shift, optics.blur = tuple(shift), float(blur)
    torch.manual_seed(seed)
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None                     # a plain average over all batches
        for xb in scenes.split(1024):
            model(xb.to(dev))
    finally:
        for m, mom in zip(norms, saved):
            m.momentum = mom
        optics.shift, optics.blur = (0, 0), 0.0
        model.eval()
    return model
