"""Generative Adversarial Nets: the minimax game, its optimum, and how training goes wrong.

    Goodfellow, I., Pouget-Abadie, J., Mirza, M., Xu, B., Warde-Farley, D., Ozair, S., Courville, A.
    & Bengio, Y. (2014). Generative Adversarial Nets. NeurIPS. arXiv:1406.2661

Read it top to bottom, in the paper's order:

1. the two players, a generator G(z; theta_g) and a discriminator D(x; theta_d), both MLPs (Sec. 3);
2. the value function V(D, G) of eq. (1), the minimax generator loss log(1 - D(G(z))) and the
   non-saturating loss -log D(G(z)) that Sec. 3 recommends in practice;
3. the theory of Sec. 4: the optimal discriminator D*_G of Proposition 1 (eq. 2) and the virtual
   training criterion C(G) = -log 4 + 2 JSD(p_data || p_g) of Theorem 1 (eqs. 4-6);
4. Algorithm 1: k discriminator steps, then one generator step, on minibatches of m;
5. the toy data (1-D Gaussian as in Fig. 1, a ring of 8 Gaussians, 8×8 digits) and measurements.

The same GAN class trains on all three: data are an (N, d) tensor, whatever d is.

What this toy keeps
- Algorithm 1 with its k inner discriminator steps, both generator losses, the value function and
  the optimal discriminator, and the Fig. 1 picture (data density, p_g, D and the z -> x map).
- The paper's warning about training G too much without updating D (Sec. 6, "the Helvetica
  scenario"), which we test on a ring of 8 Gaussians (a test from later work). On this toy it shows
  as a failure to settle (a narrow streak of samples hopping around the ring), not as a clean
  collapse onto one mode.

What it drops
- MNIST, TFD and CIFAR-10 -> a 1-D Gaussian, a 2-D ring of 8 Gaussians and scikit-learn's 8×8 digits.
- Maxout units and dropout in D -> a LeakyReLU MLP for D, a ReLU MLP for G (ELU for the 1-D picture,
  see Generator). SGD with momentum is available (optimizer="sgd") and used for the saturation
  experiment; Adam (beta1 = 0.5) is the default elsewhere.
- The Parzen-window log-likelihood evaluation (Table 1) and the convergence proof's assumption that
  D is optimised in function space: our D is a small network trained for a few steps.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls.common import (check_arg, check_choice, check_number, check_positive, check_shape, device,
                                  seed_everything)

GeneratorLoss = Literal["minimax", "non_saturating"]


def _check_logits(name: str, logits: torch.Tensor) -> None:
    check_arg(logits.dim() == 1, name, "discriminator logits of shape (N,)", tuple(logits.shape))


# ---------------------------------------------------------------------------------------------
# 1. The two players (Sec. 3)
# ---------------------------------------------------------------------------------------------

class Generator(nn.Module):
    """G(z; theta_g): a differentiable map from noise z ~ p_z to data space.

    ReLU hidden units as in the paper. `activation="elu"` gives a smooth G: in 1-D a ReLU net maps
    whole intervals of z onto one x (point masses and kinks in p_g), which spoils the Fig. 1 picture.
    """

    def __init__(self, noise_dim: int, data_dim: int, hidden: int = 128,
                 output: Literal["linear", "sigmoid"] = "linear",
                 activation: Literal["relu", "elu"] = "relu") -> None:
        super().__init__()
        for name, value in (("noise_dim", noise_dim), ("data_dim", data_dim), ("hidden", hidden)):
            check_positive(name, value, integer=True)
        check_choice("output", output, ("linear", "sigmoid"))
        check_choice("activation", activation, ("relu", "elu"))
        self.noise_dim, self.data_dim, self.output = noise_dim, data_dim, output
        act = nn.ReLU if activation == "relu" else nn.ELU
        self.net = nn.Sequential(nn.Linear(noise_dim, hidden), act(), nn.Linear(hidden, hidden), act(),
                                 nn.Linear(hidden, data_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_shape("z", z, (None, self.noise_dim))
        x = self.net(z)
        # Images live in [0, 1]: a sigmoid output, as the paper's generators used for MNIST.
        return torch.sigmoid(x) if self.output == "sigmoid" else x


class Discriminator(nn.Module):
    """D(x; theta_d): the probability that x came from the data rather than from G.

    It returns the *logit* of D(x), shape (N,); the losses below use log-sigmoid on it, which stays
    finite when D saturates at 0 or 1 (exactly the regime Sec. 3 is about).
    """

    def __init__(self, data_dim: int, hidden: int = 128) -> None:
        super().__init__()
        check_positive("data_dim", data_dim, integer=True)
        check_positive("hidden", hidden, integer=True)
        self.data_dim = data_dim
        self.net = nn.Sequential(nn.Linear(data_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("x", x, (None, self.data_dim))
        return self.net(x).squeeze(-1)

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x))


# ---------------------------------------------------------------------------------------------
# 2. The value function and the players' losses (eq. 1, Sec. 3)
# ---------------------------------------------------------------------------------------------

def value_function(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Minibatch estimate of eq. (1): V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))].

    log D = logsigmoid(l) and log(1 - D) = logsigmoid(-l) for D = sigmoid(l).
    """
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D ascends V (Algorithm 1, inner loop), i.e. minimises -V: the usual binary cross-entropy."""
    return -value_function(real_logits, fake_logits)


def generator_loss(fake_logits: torch.Tensor, kind: GeneratorLoss = "non_saturating") -> torch.Tensor:
    """What G minimises.

    minimax:        E_z[log(1 - D(G(z)))], the game of eq. (1) as written. Its gradient w.r.t. D's
                    logit is -D(G(z)): it vanishes exactly when D confidently rejects the samples,
                    which is the situation early in training.
    non_saturating: -E_z[log D(G(z))]. Same fixed point, but the gradient is -(1 - D(G(z))), strong
                    when G is poor ("provides much stronger gradients early in learning", Sec. 3).
    """
    _check_logits("fake_logits", fake_logits)
    if kind == "minimax":
        return F.logsigmoid(-fake_logits).mean()
    if kind == "non_saturating":
        return -F.logsigmoid(fake_logits).mean()
    check_choice("kind", kind, ("minimax", "non_saturating"))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# 3. Theory (Sec. 4): the optimal discriminator and the virtual training criterion
# ---------------------------------------------------------------------------------------------

def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """Proposition 1, eq. (2): for fixed G, D*_G(x) = p_data(x) / (p_data(x) + p_g(x)).

    Pointwise maximiser of p_data log D + p_g log(1 - D) (eq. 3), since a log y + b log(1 - y)
    peaks at y = a / (a + b).
    """
    if p_data.shape != p_g.shape:
        raise ValueError(f"p_g: expected the shape of p_data {tuple(p_data.shape)}, got {tuple(p_g.shape)}")
    return p_data / (p_data + p_g).clamp_min(torch.finfo(p_data.dtype).tiny)


def virtual_criterion(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> float:
    """C(G) = max_D V(G, D) = E_pdata[log D*] + E_pg[log(1 - D*)] (eq. 4), by quadrature on a grid.

    Theorem 1: C(G) = -log 4 + 2 JSD(p_data || p_g) (eqs. 5-6), minimal (= -log 4) iff p_g = p_data.
    """
    d_star = optimal_discriminator(p_data, p_g)
    integrand = p_data * torch.log(d_star.clamp_min(1e-300)) + p_g * torch.log((1 - d_star).clamp_min(1e-300))
    return float(integrand.sum() * dx)


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """JSD(p || q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2, by quadrature (nats)."""
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:
        mask = a > 0
        return (a[mask] * torch.log(a[mask] / m[mask])).sum() * dx

    return float(0.5 * kl(p) + 0.5 * kl(q))


# ---------------------------------------------------------------------------------------------
# 4. Algorithm 1: minibatch stochastic gradient training of GANs
# ---------------------------------------------------------------------------------------------

@dataclass
class GANConfig:
    """Hyper-parameters of Algorithm 1. k = D steps per G step (the paper used k = 1).

    g_steps > 1 trains G several times per round without updating D: the paper's Sec. 6 warns that
    this leads to "the Helvetica scenario" (too many z mapped to the same x). On our ring the same
    imbalance (or a slower D) shows as G failing to settle rather than as a clean collapse.
    """

    noise_dim: int = 2
    hidden: int = 128
    noise: Literal["normal", "uniform"] = "normal"
    output: Literal["linear", "sigmoid"] = "linear"
    activation: Literal["relu", "elu"] = "relu"
    k: int = 1
    g_steps: int = 1
    g_loss: GeneratorLoss = "non_saturating"
    batch_size: int = 128
    lr_d: float = 1e-3
    lr_g: float = 1e-3
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        for name in ("noise_dim", "hidden", "k", "g_steps", "batch_size"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("lr_d", "lr_g"):
            check_positive(name, getattr(self, name))
        check_choice("noise", self.noise, ("normal", "uniform"))
        check_choice("g_loss", self.g_loss, ("minimax", "non_saturating"))
        check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        check_number("momentum", self.momentum, low=0, high=1)


class GAN:
    """The two players, their optimisers and Algorithm 1; call train() repeatedly to continue."""

    def __init__(self, data: torch.Tensor, config: GANConfig | None = None, **overrides: object) -> None:
        known = {f.name for f in dataclasses.fields(GANConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: not a GAN option; expected one of {', '.join(sorted(known))}")
        cfg = dataclasses.replace(config or GANConfig(), **overrides)  # type: ignore[arg-type]
        cfg.validate()
        if not isinstance(data, torch.Tensor) or data.dim() != 2 or len(data) < 2:
            shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
            raise ValueError(f"data: expected a float tensor of shape (N, data_dim) with N >= 2, got {shape}")
        self.cfg = cfg
        seed_everything(cfg.seed)
        self.device = device()
        self.data = data.float().to(self.device)
        self.G = Generator(cfg.noise_dim, data.shape[1], cfg.hidden, cfg.output, cfg.activation).to(self.device)
        self.D = Discriminator(data.shape[1], cfg.hidden).to(self.device)
        # beta1 = 0.5 as in DCGAN (Radford et al. 2016): heavy momentum amplifies the oscillations of
        # the two players circling the equilibrium.
        if cfg.optimizer == "sgd":
            # The paper's setting: plain minibatch SGD with momentum (Algorithm 1: "We used momentum
            # in our experiments"). A tiny gradient is then a tiny step: nothing rescales it.
            self.opt_g = torch.optim.SGD(self.G.parameters(), lr=cfg.lr_g, momentum=cfg.momentum)
            self.opt_d = torch.optim.SGD(self.D.parameters(), lr=cfg.lr_d, momentum=cfg.momentum)
        else:
            self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
        self.rng = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.iteration = 0
        self.history: dict[str, list[float]] = {"iteration": [], "value": [], "d_real": [], "d_fake": []}

    # --- sampling ------------------------------------------------------------------------------
    def sample_noise(self, n: int) -> torch.Tensor:
        """z ~ p_z: uniform on [-1, 1] or standard normal (Algorithm 1 calls this prior p_g(z))."""
        shape = (n, self.cfg.noise_dim)
        if self.cfg.noise == "uniform":
            return torch.rand(shape, generator=self.rng, device=self.device) * 2 - 1
        return torch.randn(shape, generator=self.rng, device=self.device)

    def sample_data(self, n: int) -> torch.Tensor:
        """A minibatch of n examples from the data-generating distribution (with replacement)."""
        idx = torch.randint(len(self.data), (n,), generator=self.rng, device=self.device)
        return self.data[idx]

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.G(self.sample_noise(n))

    # --- Algorithm 1 ---------------------------------------------------------------------------
    def discriminator_step(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One inner-loop step: ascend the stochastic gradient of V w.r.t. theta_d.

        Returns (V, mean D(x), mean D(G(z))) on this minibatch, as detached tensors (no device sync).
        """
        m = self.cfg.batch_size
        x = self.sample_data(m)
        with torch.no_grad():                  # G is held fixed while D moves
            fake = self.G(self.sample_noise(m))
        real_logits, fake_logits = self.D(x), self.D(fake)
        loss = discriminator_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        with torch.no_grad():
            return -loss, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()

    def generator_step(self) -> None:
        """Descend the generator loss w.r.t. theta_g; D is frozen, gradients only pass through it."""
        self.D.requires_grad_(False)
        loss = generator_loss(self.D(self.G(self.sample_noise(self.cfg.batch_size))), self.cfg.g_loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)

    def train_discriminator(self, steps: int) -> GAN:
        """Only the inner loop, G held fixed: drives D towards D*_G (Prop. 1) for the current G."""
        check_positive("steps", steps, integer=True)
        for _ in range(steps):
            self.discriminator_step()
        return self

    def train(self, iterations: int, log_every: int = 10) -> GAN:
        """Run `iterations` rounds of Algorithm 1: k D steps, then g_steps G steps (1 in the paper)."""
        check_positive("iterations", iterations, integer=True)
        check_positive("log_every", log_every, integer=True)
        for _ in range(iterations):
            for _ in range(self.cfg.k):
                value, d_real, d_fake = self.discriminator_step()
            for _ in range(self.cfg.g_steps):
                self.generator_step()
            self.iteration += 1
            if self.iteration % log_every == 0:
                for key, v in zip(("iteration", "value", "d_real", "d_fake"),
                                  (self.iteration, value, d_real, d_fake)):
                    self.history[key].append(float(v))
        return self

    def generator_grad_norm(self, kind: GeneratorLoss, n: int = 512) -> float:
        """||d loss_G / d theta_g|| on one minibatch of n, without taking a step (the Sec. 3 argument)."""
        check_positive("n", n, integer=True)
        params = list(self.G.parameters())
        loss = generator_loss(self.D(self.G(self.sample_noise(n))), kind)
        grads = torch.autograd.grad(loss, params)       # touches no .grad field of either player
        return float(torch.sqrt(sum((g ** 2).sum() for g in grads)))


def train(data: torch.Tensor, iterations: int = 2000, **config: object) -> GAN:
    """Build a GAN on `data` ((N, d) tensor) with GANConfig options and run `iterations` rounds."""
    return GAN(data, **config).train(iterations)


Sampler = Callable[[int, torch.Generator], torch.Tensor]


def gaussian_sampler(mean: float, std: float) -> Sampler:
    """Fresh draws of N(mean, std^2), shape (n, 1): a distribution we know, not a finite sample of it."""
    check_positive("std", std)
    return lambda n, gen: mean + std * torch.randn(n, 1, generator=gen)


def fit_discriminator(real: torch.Tensor | Sampler, fake: torch.Tensor | Sampler, steps: int = 1500,
                      batch_size: int = 256, hidden: int = 64, lr: float = 3e-3,
                      schedule: Literal["constant", "cosine"] = "cosine", seed: int = 0) -> Discriminator:
    """Algorithm 1's inner loop run on its own, for a *fixed* generator (Proposition 1).

    real and fake are (N, d) samples of p_data and p_g, or samplers (n, gen) -> (n, d) that draw fresh
    minibatches: Proposition 1 is about the expectations in eq. (3), and a fixed finite sample has its
    own density ratio, off D* by a few hundredths in the tails. D ascends V on minibatches of both.
    schedule="cosine" anneals the learning rate to 0. With a constant rate, Adam keeps taking steps
    of about lr in size on noisy minibatch gradients, so D jitters around D*_G at a noise floor
    (several hundredths here) that more steps do not lower; the decay is what lets it settle.
    """
    gen = seed_everything(seed)

    def as_sampler(name: str, t: torch.Tensor | Sampler) -> Sampler:
        if callable(t):
            return t
        check_arg(isinstance(t, torch.Tensor) and t.dim() == 2, name, "shape (N, data_dim) or a sampler",
                  tuple(t.shape) if isinstance(t, torch.Tensor) else t)
        return lambda n, g: t[torch.randint(len(t), (n,), generator=g)]

    draw_real, draw_fake = as_sampler("real", real), as_sampler("fake", fake)
    dim_real, dim_fake = draw_real(2, gen).shape[1], draw_fake(2, gen).shape[1]
    check_arg(dim_real == dim_fake, "fake", f"data_dim {dim_real} like real", dim_fake)
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    check_choice("schedule", schedule, ("constant", "cosine"))
    dev = device()
    D = Discriminator(dim_real, hidden).to(dev)
    opt = torch.optim.Adam(D.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if schedule == "cosine" else None
    for _ in range(steps):
        x_real = draw_real(batch_size, gen).float().to(dev)
        x_fake = draw_fake(batch_size, gen).float().to(dev)
        loss = discriminator_loss(D(x_real), D(x_fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return D.eval()


@torch.no_grad()
def discriminator_error(D: Discriminator, x: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor,
                        min_density: float = 0.01) -> float:
    """max |D(x) - D*_G(x)| over the grid points x (shape (G, d)) where (p_data + p_g)/2 >= min_density.

    Away from both distributions D never sees a sample, so nothing pins it to D* there.
    """
    if not (len(x) == len(p_data) == len(p_g)):
        raise ValueError(f"p_data, p_g: expected {len(x)} densities like x, got {len(p_data)} and {len(p_g)}")
    dev = next(D.parameters()).device
    d = D.prob(x.float().to(dev)).cpu()
    mask = 0.5 * (p_data + p_g) >= min_density
    if not mask.any():
        raise ValueError(f"min_density: no grid point has density >= {min_density}")
    return float((d - optimal_discriminator(p_data, p_g))[mask].abs().max())


# ---------------------------------------------------------------------------------------------
# 5. Toy data and measurements
# ---------------------------------------------------------------------------------------------

def gaussian_1d(n: int, mean: float = 2.0, std: float = 0.5, seed: int = 0) -> torch.Tensor:
    """n samples of N(mean, std^2), shape (n, 1): the data distribution of the 1-D experiments."""
    check_positive("n", n, integer=True)
    check_positive("std", std)
    gen = torch.Generator().manual_seed(seed)
    return mean + std * torch.randn(n, 1, generator=gen)


def ring_centers(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The `modes` centres equally spaced on a circle, shape (modes, 2)."""
    check_positive("modes", modes, integer=True)
    angle = torch.arange(modes) * (2 * math.pi / modes)
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      seed: int = 0) -> torch.Tensor:
    """n samples from an equal mixture of isotropic Gaussians on a ring, shape (n, 2)."""
    check_positive("n", n, integer=True)
    check_positive("std", std)
    gen = torch.Generator().manual_seed(seed)
    which = torch.randint(modes, (n,), generator=gen)
    return ring_centers(modes, radius)[which] + std * torch.randn(n, 2, generator=gen)


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float,
                  min_share: float = 0.01) -> tuple[int, float]:
    """(modes covered, share of high-quality samples) for a mixture of Gaussians.

    A sample is high quality when it lies within 3 std of its nearest centre; a mode is covered when
    at least `min_share` of all samples are high-quality samples of that mode.
    """
    check_shape("samples", samples, (None, centers.shape[1]))
    dist = torch.cdist(samples.float().cpu(), centers.float().cpu())
    nearest, which = dist.min(dim=1)
    good = nearest < 3 * std
    counts = torch.bincount(which[good], minlength=len(centers))
    return int((counts >= min_share * len(samples)).sum()), float(good.float().mean())


def digits_data() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 scikit-learn digits as (N, 64) in [0, 1], and their labels (a GAN needs no test split)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.from_numpy((d.data / 16.0).astype(np.float32)), torch.from_numpy(d.target.astype(np.int64))


@torch.no_grad()
def nearest_neighbour_mse(samples: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over samples of the per-pixel squared distance to the closest reference image: a cheap
    sample-quality score for the digits (it cannot tell a good sample from a copy of a real one)."""
    d2 = torch.cdist(samples.flatten(1).float().cpu(), reference.flatten(1).float().cpu()).pow(2)
    return float(d2.min(1).values.mean() / samples.flatten(1).shape[1])


def digit_classifier(x: torch.Tensor, y: torch.Tensor):  # -> sklearn LogisticRegression
    """A multinomial logistic regression on real digits ((N, 64) in [0, 1], labels (N,)): the judge that
    says which class a generated digit looks like. It scores about 97 % on held-out real digits."""
    from sklearn.linear_model import LogisticRegression

    check_shape("x", x, (None, 64))
    check_arg(len(y) == len(x), "y", f"{len(x)} labels like x", len(y))
    return LogisticRegression(C=1.0, max_iter=2000).fit(x.cpu().numpy(), y.cpu().numpy())


def class_coverage(samples: torch.Tensor, classifier, n_classes: int = 10,  # type: ignore[no-untyped-def]
                   min_share: float = 0.05) -> tuple[int, np.ndarray]:
    """(classes covered, share of samples per class) under a digit classifier.

    A class is covered when at least `min_share` of the samples are classified as it (an even spread
    over 10 classes gives 10 % each). Read it beside the nearest-neighbour distance: a generator that
    always emits one training digit is perfect on that distance and covers one class here.
    """
    check_shape("samples", samples, (None, 64))
    check_number("min_share", min_share, low=0, high=1, strict_low=True)
    pred = classifier.predict(samples.detach().float().cpu().numpy())
    share = np.bincount(pred, minlength=n_classes) / len(pred)
    return int((share >= min_share).sum()), share

