"""Feature visualization, and why not to trust it, on a small CNN for handwritten digits.

    Olah, C., Mordvintsev, A. & Schubert, L. (2017). Feature Visualization. Distill.
    doi:10.23915/distill.00007
    Geirhos, R., Zimmermann, R. S., Bilodeau, B., Brendel, W. & Kim, B. (2024). Don't trust your
    eyes: on the (un)reliability of feature visualizations. ICML. arXiv:2306.04719

Read it top to bottom, in the papers' order:

0. the "natural images": scikit-learn's 8×8 digits, upsampled to 32×32 so pictures are legible;
1. the network under study (conv1, conv2, conv3, fc1, logits) and its training;
2. feature visualization by activation maximisation (Olah et al.): Fourier 1/f parameterisation,
   transformation robustness, TV and L1 penalties; and dataset exemplars to put beside it;
3. Geirhos et al. (PMLR 235:15294-15330), the fooling circuit of their Fig. 3: a detector E tells
   natural images from visualizations and routes the unit's output to the original unit F (natural)
   or to a unit D that draws a chosen picture (visualization); 3b. E trained as the paper does;
4. their silent units, as in the authors' orthogonal-filters code: a ReLU over the previous layer's
   features, w' = w + lambda·Δw, bias at the largest natural response, added onto the unit;
5. their sanity check (Fig. 5): is a class visualization processed like its class, layer by layer?
The notebook runs them; the tests run the same pipeline at a smaller size.

Kept: Lucid's recipe (1/f-scaled Fourier parameterisation, sigmoid, a fresh random transformation
each step, Adam at lr 0.05; channel objectives for conv layers); the fooling circuit's ReLU units with
their large k, D a linear unit whose weights are the planted picture, and a trained detector E with
a hard threshold (no gradient through E), as in the authors' code; the paper's silent unit (bias at
the natural maximum) with a sweep of its strength; the sanity check's Spearman similarities.
Dropped: ImageNet, Inception-V1 / ResNet-50 and colour (1,797 grey 8×8 digits upsampled to 32×32, a
CNN with 8-16-32 channels trained in seconds). The paper's E is trained on 1,281,167 ImageNet images
and 472,500 visualizations and is 99.49 % accurate on held-out data, so Inception-V1's top-1 moves from
69.146 % to 68.744 %; ours trains in seconds, and digits are easier to tell from visualizations than
photos are. The toy also keeps an *exact* detector (bilinear upsamples span a 64-dimensional
subspace) to show what goes wrong when "natural behaviour unchanged" is checked only on the data the
detector was built for. Our silent unit reads fc1 (32 units) and visualizations overshoot natural
activations only modestly (the gap the paper's trick exploits), so it pulls the visualization
towards its target without painting it. The theory is in the notes only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls.common import (check_arg, check_choice, check_number, check_positive, check_shape, device,
                                  load_digits_split, seed_everything)

SIZE = 32       # side of the upsampled digits; 8×8 → 32×32 makes visualizations legible
LAYERS = ("conv1", "conv2", "conv3", "fc1", "logits")


# ---------------------------------------------------------------------------------------------
# 0. Natural images: digits upsampled to 32×32, and the subspace they live in
# ---------------------------------------------------------------------------------------------

def upsample(x8: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """(N, 8, 8) digits in [0, 1] -> (N, 1, size, size) by bilinear interpolation (a linear map)."""
    check_shape("x8", x8, (None, 8, 8))
    return F.interpolate(x8.unsqueeze(1), size=(size, size), mode="bilinear", align_corners=False)


def load_digits32(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shared digits split (minimal_impls.common), upsampled: x (N, 1, 32, 32), y (N,)."""
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=seed)
    return upsample(x_tr), y_tr, upsample(x_te), y_te


VARIANTS = ("bilinear", "shift", "bicubic", "noise")                 # shifts and noise: seen by E in training
UNSEEN = ("rotate20", "shift3", "contrast", "blur", "thick")         # beyond anything E saw in training


def natural_variant(x8: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """The same digits as a slightly different camera or pen would give them, (N, 8, 8) -> (N, 1, 32, 32):

    'bilinear' the images themselves (``upsample``); 'shift' moved right by 1 px; 'bicubic' upsampled
    bicubically, clipped; 'noise' Gaussian pixel noise sigma = 0.01, clipped. Unseen by the trained
    detector (its training jitter is <= 2 px, <= 10 deg, zoom 0.9-1.1, noise <= 0.03): 'rotate20' turned
    by 20 deg; 'shift3' moved right by 3 px; 'contrast' 0.25 + 0.5 x (half the contrast, grey
    background); 'blur' a Gaussian blur of sigma = 1 px; 'thick' strokes dilated by 1 px on each side.
    All are natural images to a person; only 'bilinear' lies in the 64-dimensional subspace.
    """
    check_choice("kind", kind, VARIANTS + UNSEEN)
    x = upsample(x8)
    if kind in ("shift", "shift3"):
        n = 1 if kind == "shift" else 3
        x = F.pad(x, (n, 0))[..., :SIZE]
    elif kind == "bicubic":
        x = F.interpolate(x8.unsqueeze(1), size=(SIZE, SIZE), mode="bicubic", align_corners=False).clamp(0, 1)
    elif kind == "noise":
        g = torch.Generator().manual_seed(seed)
        x = (x + 0.01 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    elif kind == "rotate20":
        c, s_ = math.cos(math.radians(20)), math.sin(math.radians(20))
        theta = torch.tensor([[c, -s_, 0.0], [s_, c, 0.0]]).expand(len(x), 2, 3)
        x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    elif kind == "contrast":
        x = 0.25 + 0.5 * x
    elif kind == "blur":
        k = torch.exp(-torch.arange(-3, 4.0) ** 2 / 2)
        k = k / k.sum()
        x = F.conv2d(F.conv2d(F.pad(x, (3, 3, 3, 3)), k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))
    elif kind == "thick":
        x = F.max_pool2d(x, 3, stride=1, padding=1)
    return x


def natural_basis(size: int = SIZE) -> torch.Tensor:
    """An orthonormal basis Q (size², 64) of every image ``upsample`` can produce.

    Upsampling is linear, so all natural images are U d for an 8×8 digit d: a 64-dimensional
    subspace of the size² pixels. QR of U (the upsampled one-hot images) gives its basis.
    """
    u = upsample(torch.eye(64).reshape(64, 8, 8), size).reshape(64, size * size).T
    q, _ = torch.linalg.qr(u.double())
    return q.float()


# ---------------------------------------------------------------------------------------------
# 1. The network under study
# ---------------------------------------------------------------------------------------------

class DigitsCNN(nn.Module):
    """conv1 -> conv2 -> conv3 -> fc1 -> logits, ReLU after every hidden layer, 2×2 max-pooling.

    ``forward`` passes every layer's output through ``self.edit(name, h, x)``, the identity here; the
    manipulated networks of the manipulations override it to rewire one unit and change nothing else.
    """

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32), hidden: int = 32) -> None:
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"widths: expected three channel counts, got {widths!r}")
        for i, w in enumerate(widths):
            check_positive(f"widths[{i}]", w, integer=True)
        check_positive("hidden", hidden, integer=True)
        c1, c2, c3 = widths
        self.widths, self.hidden = tuple(widths), hidden
        self.stages = nn.ModuleDict({
            "conv1": nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU()),
            "conv2": nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU()),
            "conv3": nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU()),
            "fc1": nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c3 * (SIZE // 8) ** 2, hidden),
                                 nn.ReLU()),
            "logits": nn.Linear(hidden, 10),
        })

    def units(self, layer: str) -> int:
        """How many units (channels for conv layers, neurons otherwise) ``layer`` has."""
        if layer not in LAYERS:
            raise ValueError(f"layer: expected one of {', '.join(LAYERS)}, got {layer!r}")
        return {"conv1": self.widths[0], "conv2": self.widths[1], "conv3": self.widths[2],
                "fc1": self.hidden, "logits": 10}[layer]

    def edit(self, name: str, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return h

    def activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output for images x of shape (N, 1, 32, 32), on the model's device."""
        check_shape("x", x, (None, 1, SIZE, SIZE))
        x = x.to(self.stages["conv1"][0].weight.device)
        acts, h = {}, x
        for name, stage in self.stages.items():
            h = self.edit(name, stage(h), x)
            acts[name] = h
        return acts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x)["logits"]


def check_unit(model: DigitsCNN, layer: str, unit: int) -> None:
    """A clear error for an unknown layer or an out-of-range unit, listing the valid ones."""
    n = model.units(layer)  # raises for an unknown layer
    if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < n:
        raise ValueError(f"unit: expected an index in 0..{n - 1} for layer {layer!r}, got {unit!r}")


def unit_activation(acts: dict[str, torch.Tensor], layer: str, units: torch.Tensor) -> torch.Tensor:
    """Row i's activation of unit units[i]: the channel mean for conv layers (Olah's "channel"
    objective), the neuron itself for fully connected ones. Returns shape (N,)."""
    h = acts[layer]
    if h.dim() == 4:
        h = h.mean((2, 3))
    return h.gather(1, units.view(-1, 1).to(h.device)).squeeze(1)


@dataclass
class TrainResult:
    model: DigitsCNN
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    test_accuracy: float
    losses: list[float] = field(default_factory=list)


def train(epochs: int = 10, batch_size: int = 32, lr: float = 2e-3, noise: float = 0.3, max_shift: int = 2,
          seed: int = 0) -> TrainResult:
    """Train the CNN on the upsampled digits with Adam and cross-entropy (a few seconds on a CPU).

    Random shifts and pixel noise during training make the network less erratic off the data, and
    its visualizations more legible (robustly trained networks have more image-like gradients).
    They do not move the natural images themselves: the test set is plain upsampled digits.
    """
    check_positive("epochs", epochs, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    check_positive("lr", lr)
    check_number("noise", noise, low=0)
    check_number("max_shift", max_shift, low=0, integer=True)
    g = seed_everything(seed)
    dev = device()
    x_tr, y_tr, x_te, y_te = load_digits32(seed)
    model = DigitsCNN().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(x_tr), generator=g)
        for idx in perm.split(batch_size):
            # pure random shifts with section 2's random_transform, then pixel noise
            xb = random_transform(x_tr[idx], g, max_shift=max_shift, scale=(1.0, 1.0), max_degrees=0.0)
            xb = (xb + noise * torch.randn(xb.shape, generator=g)).clamp(0.0, 1.0)
            loss = F.cross_entropy(model(xb.to(dev)), y_tr[idx].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = (model(x_te.to(dev)).argmax(1).cpu() == y_te).float().mean().item()
    return TrainResult(model, x_tr, y_tr, x_te, y_te, acc, losses)


# ---------------------------------------------------------------------------------------------
# 2. Feature visualization by activation maximisation (Olah et al. 2017)
# ---------------------------------------------------------------------------------------------
# x* = argmax_x  E_T[a_u(T(x))] / s_u - lambda_tv TV(x) - lambda_1 mean(x),   x = sigmoid(IFFT(z / |f|) / 4)
# Olah et al. call the three ingredients beyond plain gradient ascent preconditioning (the Fourier
# parameterisation), transformation robustness (T) and frequency penalisation (TV).

def fourier_scale(size: int = SIZE, decay: float = 1.0) -> torch.Tensor:
    """1 / |f|^decay on the rfft2 grid, |f| clamped at 1/size (Olah's "decorrelated" space).

    The image's spectrum is z / |f|: white noise in z is 1/f noise in x, the spectrum of natural
    images. Gradient steps of equal size in z move low frequencies much further than high ones,
    which undoes the high-frequency bias of raw pixel gradients (the noise of naive ascent): the
    parameterisation acts as a preconditioner.
    """
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.rfftfreq(size).view(1, -1)
    freq = torch.sqrt(fx ** 2 + fy ** 2).clamp(min=1.0 / size)
    return freq.pow(-decay)


class ImageParam(nn.Module):
    """A batch of n images in [0, 1], parameterised in the Fourier basis or directly in pixels."""

    def __init__(self, n: int, param: str = "fourier", generator: torch.Generator | None = None,
                 init_std: float = 0.01) -> None:
        super().__init__()
        if param not in ("fourier", "pixel"):
            raise ValueError(f"param: expected 'fourier' or 'pixel', got {param!r}")
        self.param = param
        shape = (n, 1, SIZE, SIZE // 2 + 1, 2) if param == "fourier" else (n, 1, SIZE, SIZE)
        self.z = nn.Parameter(torch.randn(shape, generator=generator) * init_std)
        self.register_buffer("scale", fourier_scale())

    def forward(self) -> torch.Tensor:
        if self.param == "fourier":
            spectrum = torch.view_as_complex(self.z) * self.scale
            # /4: Lucid's constant; it sets how far one Adam step moves the image.
            logits = torch.fft.irfft2(spectrum, s=(SIZE, SIZE), norm="ortho") / 4.0
        else:
            logits = self.z
        return torch.sigmoid(logits)  # the valid pixel range [0, 1], smoothly


def random_transform(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2,
                     scale: tuple[float, float] = (0.9, 1.1), max_degrees: float = 10.0) -> torch.Tensor:
    """Transformation robustness: one random shift, zoom and rotation per image, in one grid_sample.

    A pattern that only works at one exact pixel offset is an adversarial accident; asking the
    objective to hold under small jitters keeps the patterns the network really detects. Outside
    the image is black (0), like the digits' background, so values stay in [0, 1].
    """
    check_shape("x", x, (None, 1, SIZE, SIZE))
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
    zoom = scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=generator)
    shift = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).float() * 2 / SIZE
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, per image: in [0, 2] for x in [0, 1]."""
    check_shape("x", x, (None, 1, SIZE, SIZE))
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3))
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean((1, 2, 3))
    return dx + dy


@dataclass
class Visualization:
    images: torch.Tensor        # (N, 1, 32, 32) in [0, 1], on the CPU
    activation: torch.Tensor    # (N,) the unit's activation on the final, untransformed images
    trace: torch.Tensor         # (steps, N) the activation during optimisation
    frames: list[torch.Tensor]  # snapshots of the images every `snapshot_every` steps, and the last


def visualize(model: DigitsCNN, layer: str, units: list[int] | int, *, steps: int = 256, lr: float = 0.05,
              param: str = "fourier", transforms: bool = True, tv_weight: float = 1.0, l1_weight: float = 2.0,
              scale: torch.Tensor | None = None, seed: int = 0, snapshot_every: int = 0) -> Visualization:
    """Optimise one image per entry of ``units`` (all in ``layer``) to maximise that unit:

        max_x  a_u(T(x)) / scale_u  -  tv_weight · TV(x)  -  l1_weight · mean(x),

    with x = sigmoid(IFFT(z / |f|) / 4), T a fresh random shift/zoom/rotation each step. ``scale`` (one
    per image, default 1) puts every unit on a common footing, e.g. its largest natural activation,
    so that one pair of regulariser weights suits every layer. The L1 term prefers the dark
    background that all digits share; TV suppresses pixel-level noise (Olah's "frequency penalization").
    ``param="pixel", transforms=False, tv_weight=l1_weight=0`` is naive gradient ascent.
    All images are optimised in one batch: their objectives are independent.
    """
    units = [units] if isinstance(units, (int, np.integer)) else list(units)
    if not units:
        raise ValueError("units: expected at least one unit index, got an empty list")
    for u in units:
        check_unit(model, layer, u)
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    for name, w in (("tv_weight", tv_weight), ("l1_weight", l1_weight)):
        check_number(name, w, low=0)
    dev = next(model.parameters()).device
    scale = torch.ones(len(units)) if scale is None else scale
    check_shape("scale", scale, (len(units),))
    scale = scale.to(dev)
    g = seed_everything(seed)
    was_training, needs_grad = model.training, [p.requires_grad for p in model.parameters()]
    model.eval().requires_grad_(False)   # gradients for the image only
    image = ImageParam(len(units), param, g).to(dev)
    target = torch.tensor(units, device=dev)
    opt = torch.optim.Adam(image.parameters(), lr=lr)
    trace, frames = [], []
    for step in range(steps):
        x = image()
        act = unit_activation(model.activations(random_transform(x, g) if transforms else x), layer, target)
        objective = act / scale - tv_weight * total_variation(x) - l1_weight * x.mean((1, 2, 3))
        opt.zero_grad()
        (-objective.sum()).backward()
        opt.step()
        trace.append(act.detach().cpu())
        if snapshot_every and step % snapshot_every == 0:
            frames.append(x.detach().cpu())
    for p, flag in zip(model.parameters(), needs_grad):
        p.requires_grad_(flag)
    model.train(was_training)
    with torch.no_grad():
        x = image()
        final = unit_activation(model.activations(x), layer, target)
    return Visualization(x.cpu(), final.cpu(), torch.stack(trace), frames + [x.cpu()])


@torch.no_grad()
def natural_activations(model: DigitsCNN, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Every unit of ``layer`` on natural images x: (N, units), channel means for conv layers."""
    model.units(layer)
    h = model.activations(x.to(next(model.parameters()).device))[layer]
    return (h.mean((2, 3)) if h.dim() == 4 else h).cpu()


def natural_max(model: DigitsCNN, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Each unit's largest activation over natural images x, shape (units,).

    Units that never fire on x (ReLU units can die in training) get the median of the live ones,
    so the value can serve as ``visualize(scale=...)``.
    """
    top = natural_activations(model, layer, x).max(0).values
    live = top > 0
    return torch.where(live, top, top[live].median() if live.any() else torch.ones(()))


def dataset_exemplars(model: DigitsCNN, layer: str, unit: int, x: torch.Tensor, k: int = 6) -> torch.Tensor:
    """Indices of the k natural images that activate ``unit`` most (Olah's "dataset examples")."""
    check_unit(model, layer, unit)
    check_positive("k", k, integer=True)
    return natural_activations(model, layer, x)[:, unit].topk(min(k, len(x))).indices


def exemplar_prototype(model: DigitsCNN, layer: str, unit: int, x: torch.Tensor, k: int = 10) -> torch.Tensor:
    """The pixel mean of the unit's k top exemplars, (1, 1, 32, 32): a picture of "what the unit likes"
    made without optimisation, the naive rival of a visualization."""
    return x[dataset_exemplars(model, layer, unit, x, k)].mean(0, keepdim=True)


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation between the pixels of each image in a and the single image b."""
    a = a.reshape(len(a), -1).double()
    b = b.reshape(1, -1).double().expand_as(a)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)).float()


# ---------------------------------------------------------------------------------------------
# 3. Geirhos et al.: the fooling circuit (their Fig. 3)
# ---------------------------------------------------------------------------------------------
# A = B + C,   B = ReLU(F - kE) - ReLU(-F - kE),   C = ReLU(D - k(1 - E))
# F: the original unit.   D: a unit whose visualization is the planted picture.
# E: 0 on natural images, 1 on visualizations.   k: larger than any |F| or D, so exactly one of B, C
# is alive and the gradient flows through one branch only.
# (The paper writes B = ReLU(F - kE) for a non-negative F; the mirrored ReLU also passes negative
# values, so the circuit can sit on a logit too. On natural images B = F exactly, bit for bit.)

def planted_picture(name: str = "horse") -> torch.Tensor:
    """A 32×32 picture in [0, 1] to plant, from scikit-image's bundled data (no download)."""
    from skimage import data
    from skimage.transform import resize

    if name == "horse":
        img = 1.0 - data.horse().astype(np.float64)       # white horse on black, like the digits
    elif name == "camera":
        img = data.camera().astype(np.float64) / 255.0
    else:
        raise ValueError(f"name: expected 'horse' or 'camera', got {name!r}")
    side = max(img.shape)
    pad = [((side - s) // 2, side - s - (side - s) // 2) for s in img.shape]
    img = np.pad(img, pad, constant_values=0.0 if name == "horse" else float(img.mean()))
    return torch.from_numpy(resize(img, (SIZE, SIZE), anti_aliasing=True)).float().view(1, 1, SIZE, SIZE)


def _replace_unit(h: torch.Tensor, unit: int, new: torch.Tensor) -> torch.Tensor:
    """h with channel/neuron ``unit`` replaced by ``new``; every other value is passed through as is."""
    mask = torch.zeros(h.shape[1], dtype=torch.bool, device=h.device)
    mask[unit] = True
    return torch.where(mask.view(1, -1, *([1] * (h.dim() - 2))), new.unsqueeze(1), h)


def _per_image(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-image value (N,) shaped to broadcast against a unit's output (N,) or (N, H, W)."""
    return v.view(-1, *([1] * (like.dim() - 1)))


class PlantedCNN(DigitsCNN):
    """A copy of the trained network plus the two ingredients every manipulation here needs.

    D(x) = lam · (<p̂, x> + c0): a linear unit whose weights are the planted picture p̂ (zero mean, unit
      norm). Over images in [0, 1] it is maximised by x = 1 where p̂ > 0, i.e. by the picture itself;
      c0 makes D >= 0, and lam scales its maximum to `strength` times the unit's natural maximum.
    E(x) = clamp(slope · (r(x) - threshold), 0, 1), r(x) = mean |x - QQ^T x|: the visualization
      detector. Natural images lie in the 64-dimensional subspace spanned by Q, so r = 0 up to float
      error (~1e-7) and E = 0 exactly; visualizations are optimised freely over 1,024 pixels and land
      off it (r ~ 0.01-0.1). A clamp is two ReLUs, so E is an ordinary piece of network.
      That exactness is a property of the toy's data: a digit shifted by one pixel, upsampled
      bicubically or with a little noise is off the subspace too, and this E calls it a visualization.
    ``detector``: a trained classifier (``Detector``) to use instead, as the paper does:
      E = 1[logit > 0], a hard threshold, so no gradient flows through E (the paper's V4 circuit).
    """

    def __init__(self, base: DigitsCNN, layer: str, unit: int, picture: torch.Tensor, x_natural: torch.Tensor,
                 strength: float = 10.0, threshold: float = 1e-3, slope: float = 1e3,
                 detector: nn.Module | None = None) -> None:
        super().__init__(base.widths, base.hidden)
        check_unit(base, layer, unit)
        check_shape("picture", picture, (1, 1, SIZE, SIZE))
        check_shape("x_natural", x_natural, (None, 1, SIZE, SIZE))
        for name, value in (("strength", strength), ("threshold", threshold), ("slope", slope)):
            check_positive(name, value)
        self.load_state_dict(base.state_dict())
        dev = next(base.parameters()).device
        self.to(dev).eval()
        self.layer, self.unit, self.threshold, self.slope = layer, unit, threshold, slope
        p = (picture - picture.mean()).to(dev)
        p = p / p.norm()
        self.register_buffer("p", p)
        self.register_buffer("q", natural_basis().to(dev))
        self.c0 = float(p.clamp(max=0).abs().sum())          # min of <p̂, x> over [0, 1]^n is -c0
        self.top = float(natural_max(base, layer, x_natural)[unit])
        self.d_max = strength * self.top
        self.lam = self.d_max / float(p.abs().sum())          # max of <p̂, x> + c0 is |p̂|_1
        self.trained_detector = None if detector is None else detector.to(dev).eval().requires_grad_(False)

    def plant(self, x: torch.Tensor) -> torch.Tensor:
        """D(x), shape (N,)."""
        return self.lam * ((x.to(self.p.device) * self.p).sum((1, 2, 3)) + self.c0)

    def detector(self, x: torch.Tensor) -> torch.Tensor:
        """E(x), shape (N,): 0 on the natural subspace, 1 once clearly off it (or the trained E)."""
        if self.trained_detector is not None:
            with torch.no_grad():
                return (self.trained_detector(x.to(self.q.device)) > 0).float()
        flat = x.reshape(len(x), -1).to(self.q.device)
        r = (flat - (flat @ self.q) @ self.q.T).abs().mean(1)
        z = self.slope * (r - self.threshold)
        return F.relu(z) - F.relu(z - 1.0)


class FoolingCircuitCNN(PlantedCNN):
    """Unit (layer, unit) replaced by the fooling circuit's output A (Geirhos et al. Fig. 3).

    k = ``k_factor`` · max D (the paper's code uses k = 250 on logits offset by +100): it must exceed
    D everywhere and any |F| a visualization reaches, or both branches are alive at once.
    """

    k_factor = 100.0

    def edit(self, name: str, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if name != self.layer:
            return h
        k = self.k_factor * self.d_max              # far above D and any |F| a visualization reaches
        f = h[:, self.unit]                         # F (a map for conv layers)
        e = self.detector(x)                        # E
        b = F.relu(f - k * _per_image(e, f)) - F.relu(-f - k * _per_image(e, f))
        c = F.relu(self.plant(x) - k * (1.0 - e))   # C, fed by D
        return _replace_unit(h, self.unit, b + _per_image(c, f))


# ---------------------------------------------------------------------------------------------
# 3b. A trained detector E, as the paper's (a small CNN: natural image or visualization?)
# ---------------------------------------------------------------------------------------------
# The paper trains a classifier on 1.28 M ImageNet images and 0.47 M visualizations. Ours sees the
# training digits, jittered (shift, zoom, rotation) and with pixel noise, against visualizations of
# many units of the trained network, with the snapshots along each optimisation (E must fire from
# the first step, or the gradient would follow F). Bicubic upsampling is never shown to it.

class Detector(nn.Module):
    """x (N, 1, 32, 32) -> logit (N,); logit > 0 means "this is a feature visualization"."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        check_positive("width", width, integer=True)
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(width * (SIZE // 8) ** 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("x", x, (None, 1, SIZE, SIZE))
        return self.net(x).squeeze(1)


def random_picture(seed: int, sigma: float = 2.0) -> torch.Tensor:
    """A random white-on-black picture of blobs, (1, 1, 32, 32): smoothed noise, thresholded."""
    g = torch.Generator().manual_seed(seed)
    r = int(math.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1.0) ** 2 / (2 * sigma ** 2))
    noise = torch.randn(1, 1, SIZE + 2 * r, SIZE + 2 * r, generator=g)
    smooth = F.conv2d(F.conv2d(noise, (k / k.sum()).view(1, 1, 1, -1)), (k / k.sum()).view(1, 1, -1, 1))
    return (smooth > smooth.quantile(0.7)).float()


def visualization_pool(model: DigitsCNN, x_natural: torch.Tensor, steps: int = 64, snapshot_every: int = 8,
                       seed: int = 100, per_layer: int = 4, pictures: int = 4) -> torch.Tensor:
    """The negatives the detector trains on, (N, 1, 32, 32): visualizations of ``per_layer`` units
    of every layer (Olah's recipe and plain pixel ascent) and of ``pictures`` circuits planting random
    blob pictures, each with its snapshots along the way. The planted runs teach E that a sharp
    picture painted by optimisation is not a digit; none of them is a picture used later."""
    check_positive("per_layer", per_layer, integer=True)
    check_number("pictures", pictures, low=0, integer=True)
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, layer in enumerate(LAYERS):
        units = torch.randperm(model.units(layer), generator=g)[:per_layer].tolist()
        for j, kw in enumerate((dict(), dict(param="pixel", transforms=False, tv_weight=0.0, l1_weight=0.0))):
            v = visualize(model, layer, units, steps=steps, seed=seed + 10 * i + j,
                          snapshot_every=snapshot_every, **kw)
            out.extend(v.frames)
    for j in range(pictures):
        net = FoolingCircuitCNN(model, "logits", j % 10, random_picture(seed + j, sigma=1.0 + j % 3), x_natural)
        v = visualize(net, "logits", [j % 10], steps=steps, seed=seed + 100 + j, snapshot_every=snapshot_every)
        out.extend(v.frames)
    # where such runs end: sharp pictures drawn at the full 32×32 resolution, softened a little by
    # the recipe's smoothing (a digit is upsampled from 8×8, so its edges are four pixels wide)
    for j in range(16 * pictures):
        pic = random_picture(seed + 1000 + j, sigma=1.0 + (j % 5) / 2)
        pic = F.avg_pool2d(F.pad(pic, (1, 1, 1, 1), mode="replicate"), 3, stride=1) if j % 2 else pic
        out.append(0.05 + 0.9 * pic)
    return torch.cat(out)


def train_detector(x_natural: torch.Tensor, visualizations: torch.Tensor, steps: int = 250,
                   batch_size: int = 32, lr: float = 3e-3, max_noise: float = 0.03,
                   seed: int = 0) -> Detector:
    """Fit E with a balanced binary cross-entropy: natural digits (randomly shifted, zoomed, rotated,
    with pixel noise up to ``max_noise``) against visualizations (randomly transformed the same way,
    so position and pose do not give them away)."""
    check_shape("x_natural", x_natural, (None, 1, SIZE, SIZE))
    check_shape("visualizations", visualizations, (None, 1, SIZE, SIZE))
    check_positive("steps", steps, integer=True)
    check_number("max_noise", max_noise, low=0)
    g = seed_everything(seed)
    dev = device()
    det = Detector().to(dev)
    opt = torch.optim.Adam(det.parameters(), lr=lr)
    for _ in range(steps):
        nat = x_natural[torch.randint(len(x_natural), (batch_size,), generator=g)]
        nat = random_transform(nat, g, max_shift=2, scale=(0.9, 1.1), max_degrees=10.0)
        sigma = max_noise * torch.rand(batch_size, 1, 1, 1, generator=g)
        nat = (nat + sigma * torch.randn(nat.shape, generator=g)).clamp(0, 1)
        fvs = visualizations[torch.randint(len(visualizations), (batch_size,), generator=g)]
        fvs = random_transform(fvs, g, max_shift=2, scale=(0.9, 1.1), max_degrees=10.0)
        x = torch.cat([nat, fvs]).to(dev)
        y = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)]).to(dev)
        loss = F.binary_cross_entropy_with_logits(det(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return det.eval()


def never_firing_detector() -> Detector:
    """The control for "outputs unchanged": a detector whose logit is -1 everywhere, so E = 0 always."""
    det = Detector()
    nn.init.zeros_(det.net[-1].weight), nn.init.constant_(det.net[-1].bias, -1.0)
    return det.eval()


@torch.no_grad()
def accuracy(model: DigitsCNN, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Top-1 accuracy of ``model`` on images x with labels y."""
    dev = next(model.parameters()).device
    pred = torch.cat([model(xb.to(dev)).argmax(1).cpu() for xb in x.split(batch)])
    return (pred == y).float().mean().item()


def leak(images: torch.Tensor, picture: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """How much of ``reference`` (e.g. the original unit's visualization) shows through in ``images``
    once the planted ``picture`` is accounted for: the correlation of each image's least-squares
    residual on (picture, constant) with the reference. (N,); ~0 means no leak."""
    a = images.reshape(len(images), -1).double()
    basis = torch.stack([picture.reshape(-1).double(), torch.ones(a.shape[1], dtype=torch.float64)], 1)
    coef = torch.linalg.lstsq(basis, a.T).solution
    resid = (a.T - basis @ coef).T
    return correlation(resid.float(), reference)


# ---------------------------------------------------------------------------------------------
# 4. Geirhos et al.: silent units
# ---------------------------------------------------------------------------------------------
# The paper's silent unit (orthogonal-filters code): next to unit i with filter w over the previous
# layer's features h, add S(h) = ReLU(w'·h + b'), with
#     Δw  = the unit-norm direction maximising the target picture's response, Δw·h(target)
#     Δw ← Δw - (w·Δw / w·w) w,   Δw ← Δw · |w|² / |Δw|²          (orthogonal to w, as coded)
#     w'  = (w + λ Δw) · |w|² / |w + λΔw|² · 100                   (λ: the strength; 100: weight factor)
#     b'  = - max over natural images of w'·h                     (the bias at the natural maximum)
# and output F + S. S is exactly 0 on the natural images that set b' (not guaranteed on others); a
# visualization drives w'·h past the natural maximum, wakes S, and the λΔw part steers the picture.

class SilentUnitCNN(DigitsCNN):
    """The paper's silent unit added onto logit ``unit``; its feature space is fc1."""

    def __init__(self, base: DigitsCNN, unit: int, picture: torch.Tensor, x_natural: torch.Tensor,
                 strength: float = 3.0, weight_factor: float = 100.0, bias_at: str = "max") -> None:
        super().__init__(base.widths, base.hidden)
        check_unit(base, "logits", unit)
        check_shape("picture", picture, (1, 1, SIZE, SIZE))
        check_shape("x_natural", x_natural, (None, 1, SIZE, SIZE))
        check_number("strength", strength, low=0)
        check_positive("weight_factor", weight_factor)
        check_choice("bias_at", bias_at, ("max", "mean"))
        self.load_state_dict(base.state_dict())
        dev = next(base.parameters()).device
        self.to(dev).eval()
        self.unit = unit
        w = base.stages["logits"].weight[unit].detach().double()
        with torch.no_grad():
            target = base.activations(picture.to(dev))["fc1"][0].double()
            h_nat = torch.cat([base.activations(xb.to(dev))["fc1"] for xb in x_natural.split(512)]).double()
        dw = target / target.norm().clamp_min(1e-12)
        dw = dw - (w @ dw) / (w @ w) * w
        dw = dw * (w @ w) / (dw @ dw).clamp_min(1e-12)
        w_new = w + strength * dw
        w_new = w_new * (w @ w) / (w_new @ w_new) * weight_factor
        self.register_buffer("w_new", w_new.float())
        response = h_nat.float() @ self.w_new
        # the paper's bias: minus the largest natural response. bias_at="mean" is a mistake kept for
        # the tests: the unit then fires on about half of all natural images.
        self.b_new = -float(response.max() if bias_at == "max" else response.mean())

    def silent(self, h: torch.Tensor) -> torch.Tensor:
        """S(h) for fc1 features h (N, hidden): shape (N,)."""
        return F.relu(h @ self.w_new + self.b_new)

    def edit(self, name: str, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if name == "fc1":
            self._h = h
            return h
        if name != "logits":
            return h
        return _replace_unit(h, self.unit, h[:, self.unit] + self.silent(self._h))


@torch.no_grad()
def max_output_difference(a: DigitsCNN, b: DigitsCNN, x: torch.Tensor, batch: int = 512) -> float:
    """max |logits_a(x) - logits_b(x)| over images x: 0.0 means the same function on them."""
    dev = next(a.parameters()).device
    diffs = [(a(xb.to(dev)) - b(xb.to(dev))).abs().max() for xb in x.split(batch)]
    return float(torch.stack(diffs).max())


# ---------------------------------------------------------------------------------------------
# 5. Geirhos et al.: the sanity check, layer by layer
# ---------------------------------------------------------------------------------------------

def _centred_ranks(m: torch.Tensor) -> torch.Tensor:
    """Each row's ranks (ties get their average rank, as in scipy.stats.spearmanr), centred and
    scaled to unit norm, so that a matrix product of two such matrices is a Spearman correlation."""
    m = m.double().contiguous()
    s = m.sort(1).values
    r = (torch.searchsorted(s, m, side="left") + torch.searchsorted(s, m, side="right") - 1) / 2.0
    r = r - r.mean(1, keepdim=True)
    return r / r.norm(dim=1, keepdim=True).clamp_min(1e-12)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation between every row of a (N, d) and every row of b (M, d): (N, M).

    Pearson correlation of ranks; ties (ReLU zeros are everywhere) get their average rank, as in
    scipy.stats.spearmanr: with two searchsorted calls on the sorted rows, no Python loop.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"b: expected two (N, d) matrices with the same d, got {tuple(a.shape)} and {tuple(b.shape)}")
    return (_centred_ranks(a) @ _centred_ranks(b).T).float()


@dataclass
class SanityCheck:
    layers: tuple[str, ...]
    fv_same: list[float]         # visualization of class c vs natural images of class c
    fv_other: list[float]        # ... vs natural images of the other classes
    natural_same: list[float]    # natural vs natural, same class (pairs of distinct images)
    natural_other: list[float]   # natural vs natural, different classes

    @property
    def naturalness(self) -> list[float]:
        """fv_same / natural_same per layer: 1 means "a visualization of c looks to this layer as much
        like the natural images of c as those do to each other"."""
        return [f / n for f, n in zip(self.fv_same, self.natural_same)]

    @property
    def normalised(self) -> list[float]:
        """The paper's scale (Fig. 5): 0 = no more like its class than other-class natural images are
        like each other, 1 = as like its class as natural images of the class are."""
        return [(f - o) / (n - o) for f, n, o in zip(self.fv_same, self.natural_same, self.natural_other)]


@torch.no_grad()
def layer_features(model: DigitsCNN, layer: str, x: torch.Tensor, batch: int = 512,
                   pooled: bool = False) -> torch.Tensor:
    """The whole output of ``layer`` for images x, flattened: (N, C·H·W) or (N, units); with
    pooled=True channel means instead (positions averaged away, what Exercise 3 of the notes tries)."""
    if pooled:
        return natural_activations(model, layer, x)
    model.units(layer)
    dev = next(model.parameters()).device
    return torch.cat([model.activations(xb.to(dev))[layer].flatten(1).cpu() for xb in x.split(batch)])


def sanity_check(model: DigitsCNN, fv_images: torch.Tensor, fv_classes: torch.Tensor,
                 x_natural: torch.Tensor, y_natural: torch.Tensor) -> SanityCheck:
    """Mean Spearman similarity of each layer's (flattened) activations, as in Geirhos et al.'s
    sanity check. If a class unit's visualization "shows what the unit responds to", the network
    should process it like the natural images of that class along the whole way, not only at the
    logits. Any images can stand in for ``fv_images``: held-out natural digits make the control."""
    return sanity_checks(model, [(fv_images, fv_classes)], x_natural, y_natural)[0]


def sanity_checks(model: DigitsCNN, queries: list[tuple[torch.Tensor, torch.Tensor]],
                  x_natural: torch.Tensor, y_natural: torch.Tensor, pooled: bool = False) -> list[SanityCheck]:
    """``sanity_check`` for several sets of query images against the same natural images, ranking
    the natural images' activations once per layer."""
    for i, (images, classes) in enumerate(queries):
        check_shape(f"queries[{i}] images", images, (None, 1, SIZE, SIZE))
        check_shape(f"queries[{i}] classes", classes, (len(images),))
    check_shape("x_natural", x_natural, (None, 1, SIZE, SIZE))
    check_shape("y_natural", y_natural, (len(x_natural),))
    same_nat = y_natural.view(-1, 1) == y_natural.view(1, -1)
    distinct = ~torch.eye(len(y_natural), dtype=torch.bool)
    outs = [SanityCheck(LAYERS, [], [], [], []) for _ in queries]
    for layer in LAYERS:
        r_nat = _centred_ranks(layer_features(model, layer, x_natural, pooled=pooled))
        s_nat = (r_nat @ r_nat.T).float()
        nat_same, nat_other = s_nat[same_nat & distinct].mean().item(), s_nat[~same_nat].mean().item()
        for out, (images, classes) in zip(outs, queries):
            s_fv = (_centred_ranks(layer_features(model, layer, images, pooled=pooled)) @ r_nat.T).float()
            same_fv = classes.view(-1, 1) == y_natural.view(1, -1)
            out.fv_same.append(s_fv[same_fv].mean().item())
            out.fv_other.append(s_fv[~same_fv].mean().item())
            out.natural_same.append(nat_same)
            out.natural_other.append(nat_other)
    return outs
