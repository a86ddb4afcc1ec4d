"""Auto-Encoding Variational Bayes, and its discrete cousin the VQ-VAE, on 8×8 digits.

    Kingma, D. P. & Welling, M. (2014). Auto-Encoding Variational Bayes. ICLR. arXiv:1312.6114
    van den Oord, A., Vinyals, O. & Kavukcuoglu, K. (2017). Neural Discrete Representation
    Learning. NeurIPS. arXiv:1711.00937

Read it top to bottom, in the papers' order:

1. the Gaussian encoder q_phi(z|x) and the reparameterisation trick (AEVB Sec. 2.3-2.4, eqs. 4, 9);
2. the Bernoulli decoder p_theta(x|z) (AEVB App. C.1, eq. 11);
3. the ELBO with the closed-form Gaussian KL (App. B): the estimator L^B of eq. (7), written out in
   eq. (10); 3b. the score-function estimator of Sec. 2.2 beside the reparameterised one, to measure
   the variance argument of the paper;
4. the VQ-VAE: codebook, nearest-neighbour quantisation (VQ-VAE eqs. 1-2), straight-through
   gradient and the three-term loss (VQ-VAE eq. 3, beta = 0.25); 4b. a small autoregressive prior
   over the codes, fitted afterwards, so that the VQ-VAE can generate;
5. training (AEVB Algorithm 1: minibatches, one noise sample per datapoint; a beta weight on the KL
   term for the rate-distortion sweep and the KL-off ablation) and the measurements.

What this toy keeps
- An amortised Gaussian encoder with diagonal covariance and a Bernoulli MLP decoder (App. C).
- The SGVB estimator L^B: closed-form KL plus a one-sample (L = 1) reconstruction term, minibatches.
- A 2-D latent space, so the code and the learned manifold can be drawn; the manifold is decoded on
  an inverse-CDF grid as in the paper's App. A manifold figure (Fig. 4).
- The VQ-VAE's codebook of K vectors, argmin quantisation, straight-through estimator, codebook and
  commitment losses with the paper's beta = 0.25, and code-usage perplexity.

What it drops
- MNIST 28×28 and Frey Face -> scikit-learn's 1,797 8×8 digits. Grey levels in [0, 1] are used as
  Bernoulli means directly (not binarised), so the ELBO is not comparable with the paper's numbers.
- Adagrad with a weight-decay prior -> Adam; one tanh hidden layer of 500 units -> two of 256
  (with one layer the 2-D latents of these small images separate the digits less cleanly).
- The wake-sleep comparison of Fig. 2 and the wake-sleep / Monte-Carlo EM marginal likelihoods of Fig. 3.
- VQ-VAE: the conv encoder over a spatial grid of latents, the PixelCNN/WaveNet prior (replaced by a
  one-layer masked softmax regression over M = 4 slots), and all audio/video experiments. Our encoder
  is an MLP that emits M "slot" vectors, each quantised against one shared codebook.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls.common import (check_arg, check_choice, check_number, check_positive, check_shape, device,
                                  load_digits_split, seed_everything)

N_PIXELS = 64  # an 8×8 digit, flattened


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    """Two tanh hidden layers: the paper's App. C MLP with one more layer (see the module docstring)."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, n_out))


# ---------------------------------------------------------------------------------------------
# 1. The recognition model q_phi(z|x) and the reparameterisation trick (AEVB Sec. 2.3-2.4)
# ---------------------------------------------------------------------------------------------

class GaussianEncoder(nn.Module):
    """q_phi(z|x) = N(z; mu, diag sigma^2) with (mu, log sigma^2) = MLP(x): eq. (9), App. C.2."""

    def __init__(self, n_in: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        # One head for both: predict log sigma^2, not sigma, since it is unconstrained and exp()
        # keeps the variance positive.
        self.net = mlp(n_in, hidden, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = g_phi(eps, x) = mu + sigma ⊙ eps with eps ~ N(0, I): eq. (4) with the Sec. 2.4 choice.

    The randomness now lives in eps, which does not depend on phi, so z is a differentiable function
    of (mu, sigma) and ordinary backprop gives low-variance gradients of E_q[f(z)] (eq. 5).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"logvar: expected the shape of mu {tuple(mu.shape)}, got {tuple(logvar.shape)}")
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)), summed over latent dimensions (App. B; first term of eq. 10).

    -KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2). Exact, so only the reconstruction term
    of the ELBO needs Monte Carlo: that is what makes L^B (eq. 7) lower-variance than L^A (eq. 6).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"logvar: expected the shape of mu {tuple(mu.shape)}, got {tuple(logvar.shape)}")
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


# ---------------------------------------------------------------------------------------------
# 2. The generative model p_theta(x|z) p(z): a Bernoulli MLP decoder (AEVB App. C.1)
# ---------------------------------------------------------------------------------------------

class BernoulliDecoder(nn.Module):
    """p_theta(x|z) = prod_i Bernoulli(x_i; y_i), y = sigmoid(MLP(z)). Returns the logits of y."""

    def __init__(self, latent_dim: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.net = mlp(latent_dim, hidden, n_out)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum_i x_i log y_i + (1 - x_i) log(1 - y_i) (eq. 11), per example.

    Computed from logits (log-sum-exp inside) so that y = 0 or 1 never produces log(0).
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


# ---------------------------------------------------------------------------------------------
# 3. The VAE and its ELBO: eq. (3) estimated as L^B, eqs. (7) and (10)
# ---------------------------------------------------------------------------------------------

@dataclass
class ELBOTerms:
    """Per-example pieces of the bound, each shaped (N,); elbo = log_lik - kl (eq. 3)."""

    elbo: torch.Tensor
    log_lik: torch.Tensor
    kl: torch.Tensor


class VAE(nn.Module):
    """The encoder q_phi(z|x), the decoder p_theta(x|z) and the prior p(z) = N(0, I)."""

    def __init__(self, latent_dim: int = 2, hidden: int = 256, n_in: int = N_PIXELS) -> None:
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("hidden", hidden), ("n_in", n_in)):
            check_positive(name, value, integer=True)
        self.latent_dim, self.n_in = latent_dim, n_in
        self.encoder = GaussianEncoder(n_in, hidden, latent_dim)
        self.decoder = BernoulliDecoder(latent_dim, hidden, n_in)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_shape("x", x, (None, self.n_in))
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli means y in [0, 1] (the picture we draw), shape (N, n_in)."""
        check_shape("z", z, (None, self.latent_dim))
        return torch.sigmoid(self.decoder(z))

    def elbo(self, x: torch.Tensor) -> ELBOTerms:
        """L^B(theta, phi; x) with L = 1 noise sample per datapoint, eq. (10):

        L ≈ 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2) + log p_theta(x | mu + sigma ⊙ eps).
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        log_lik = bernoulli_log_likelihood(x, self.decoder(z))
        kl = gaussian_kl(mu, logvar)
        return ELBOTerms(elbo=log_lik - kl, log_lik=log_lik, kl=kl)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: the usual deterministic reconstruction."""
        mu, _ = self.encode(x)
        return self.decode(mu)


# ---------------------------------------------------------------------------------------------
# 3b. Why reparameterise: two unbiased gradient estimators of the same expectation (Sec. 2.2-2.3)
# ---------------------------------------------------------------------------------------------

Estimator = Literal["reparameterised", "score_function", "plug_in"]


def recon_gradient_estimates(model: VAE, x: torch.Tensor, samples: int, repeats: int,
                             estimator: Estimator) -> torch.Tensor:
    """`repeats` independent L-sample estimates of d/d(mu, log sigma^2) E_q[log p_theta(x|z)].

    With f(z) = log p_theta(x|z) (eq. 11), the first two are unbiased for the same gradient of the
    reconstruction term of eq. (3):
    - score_function (Sec. 2.2, the "naive" estimator that the paper says "exhibits very high
      variance"): mean_l f(z_l) grad log q(z_l|x), with the sample z_l treated as a constant;
    - reparameterised (Sec. 2.3, eq. 5): mean_l grad f(mu + sigma ⊙ eps_l), backprop through the sample;
    - plug_in (not in the paper; a control): grad f(mu), decoding the mean instead of a sample. It has
      no variance at all, and it is biased: it ignores sigma (zero gradient for log sigma^2) and the
      curvature of f. A variance comparison alone would rank it best.
    Returns (repeats, N, 2J): the estimate for each repeat and image.
    """
    check_choice("estimator", estimator, ("reparameterised", "score_function", "plug_in"))
    check_positive("samples", samples, integer=True)
    check_positive("repeats", repeats, integer=True)
    with torch.no_grad():
        mu0, logvar0 = model.encode(x)
    # One leaf copy of (mu, logvar) per repeat, so a single backward pass returns every repeat's
    # gradient: entry (r, n) only touches the terms of repeat r and image n.
    shape = (repeats, 1, *mu0.shape)
    mu = mu0.expand(shape).clone().requires_grad_(True)
    logvar = logvar0.expand(shape).clone().requires_grad_(True)
    eps = torch.randn(repeats, samples, *mu0.shape, device=mu0.device)          # (R, L, N, J)
    z = mu + torch.exp(0.5 * logvar) * eps
    x = x.expand(repeats, samples, *x.shape)
    if estimator == "plug_in":
        z = mu + 0.0 * logvar                                                 # the mean; logvar gets zeros
        surrogate = bernoulli_log_likelihood(x[:, :1], model.decoder(z)).sum()
    elif estimator == "reparameterised":
        surrogate = bernoulli_log_likelihood(x, model.decoder(z)).mean(1).sum()
    else:
        z = z.detach()                                                        # no path through the sample
        with torch.no_grad():
            f = bernoulli_log_likelihood(x, model.decoder(z))                 # (R, L, N)
        log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
        surrogate = (f * log_q).mean(1).sum()                                 # its gradient: E[f grad log q]
    g_mu, g_lv = torch.autograd.grad(surrogate, (mu, logvar))
    return torch.cat([g_mu, g_lv], -1).squeeze(1)


def gradient_variance(model: VAE, x: torch.Tensor, samples: int, repeats: int = 50,
                      estimator: Estimator = "reparameterised") -> float:
    """Variance of an L-sample gradient estimate across repeats, averaged over images and components."""
    return float(recon_gradient_estimates(model, x, samples, repeats, estimator).var(0).mean())


def estimator_disagreement(model: VAE, x: torch.Tensor, estimators: tuple[Estimator, ...],
                           reference: Estimator = "score_function", samples: int = 250,
                           repeats: int = 40) -> dict[str, float]:
    """How far the mean of each estimator lies from the mean of `reference`, in standard errors.

    Every mean is taken over `repeats` independent `samples`-sample estimates; for each image and
    gradient component the difference is divided by its standard error, and the root mean square of
    these z-scores is returned per estimator. Two unbiased estimators of the same gradient give about
    1; a biased one gives more, the more so the more samples are drawn. This is what makes a variance
    comparison fair: an estimator may only be called less noisy if it estimates the same thing.
    """
    ref = recon_gradient_estimates(model, x, samples, repeats, reference)
    out = {}
    for name in estimators:
        est = recon_gradient_estimates(model, x, samples, repeats, name)
        se2 = (est.var(0) + ref.var(0)) / repeats
        z = (est.mean(0) - ref.mean(0)) / se2.clamp_min(1e-12).sqrt()
        out[name] = float(z.pow(2).mean().sqrt())
    return out


# ---------------------------------------------------------------------------------------------
# 4. VQ-VAE: a discrete posterior through a learned codebook (van den Oord et al. 2017, Sec. 3)
# ---------------------------------------------------------------------------------------------

class VectorQuantizer(nn.Module):
    """The embedding space e in R^{K×D} and the nearest-neighbour posterior of VQ-VAE eqs. (1)-(2)."""

    def __init__(self, num_codes: int, code_dim: int) -> None:
        super().__init__()
        check_positive("num_codes", num_codes, integer=True)
        check_positive("code_dim", code_dim, integer=True)
        self.num_codes, self.code_dim = num_codes, code_dim
        self.codebook = nn.Parameter(torch.empty(num_codes, code_dim).uniform_(-1.0 / num_codes, 1.0 / num_codes))

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise encoder outputs z_e of shape (N, M, D).

        Returns (z_q_st, z_q, codes): z_q_st equals z_q in value but carries the straight-through
        gradient to z_e; z_q = e_k carries the gradient to the codebook; codes (N, M) are the k's.
        """
        check_shape("z_e", z_e, (None, None, self.code_dim))
        # ||z_e - e_j||^2 for every (position, code); cdist is the vectorised nearest-neighbour search.
        dist = torch.cdist(z_e, self.codebook.unsqueeze(0).expand(z_e.shape[0], -1, -1)).pow(2)
        codes = dist.argmin(-1)                      # q(z = k | x) is one-hot on the argmin: eq. (1)
        z_q = self.codebook[codes]                   # z_q(x) = e_k: eq. (2)
        # Straight-through: the forward pass uses z_q, the backward pass copies dL/dz_q onto z_e,
        # because argmin has no useful gradient (Sec. 3.2, "we just copy gradients from decoder input").
        z_q_st = z_e + (z_q - z_e).detach()
        return z_q_st, z_q, codes


@dataclass
class VQTerms:
    """Per-batch VQ-VAE losses (means over the batch) and the chosen codes (N, M)."""

    loss: torch.Tensor
    recon: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor
    codes: torch.Tensor


class VQVAE(nn.Module):
    """MLP encoder -> M slot vectors in R^D -> quantiser -> MLP Bernoulli decoder."""

    def __init__(self, num_codes: int = 32, code_dim: int = 8, num_slots: int = 4, hidden: int = 256,
                 beta: float = 0.25, n_in: int = N_PIXELS) -> None:
        super().__init__()
        for name, value in (("num_slots", num_slots), ("hidden", hidden), ("n_in", n_in)):
            check_positive(name, value, integer=True)
        check_number("beta", beta, low=0)
        self.num_slots, self.code_dim, self.beta, self.n_in = num_slots, code_dim, float(beta), n_in
        self.encoder = mlp(n_in, hidden, num_slots * code_dim)
        self.quantizer = VectorQuantizer(num_codes, code_dim)
        self.decoder = mlp(num_slots * code_dim, hidden, n_in)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z_e(x), shape (N, M, D)."""
        check_shape("x", x, (None, self.n_in))
        return self.encoder(x).view(-1, self.num_slots, self.code_dim)

    def losses(self, x: torch.Tensor) -> VQTerms:
        """VQ-VAE eq. (3): L = -log p(x|z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2.

        The decoder and encoder learn from the first term (the encoder via straight-through), the
        codebook only from the second, and the third keeps the encoder committed to its codes so
        that z_e does not drift away from the embeddings faster than they can follow.
        """
        z_e = self.encode(x)
        z_q_st, z_q, codes = self.quantizer(z_e)
        logits = self.decoder(z_q_st.flatten(1))
        recon = -bernoulli_log_likelihood(x, logits).mean()
        codebook = (z_e.detach() - z_q).pow(2).sum((-1, -2)).mean()      # sg on the encoder side
        commitment = (z_e - z_q.detach()).pow(2).sum((-1, -2)).mean()    # sg on the codebook side
        # The KL term of the ELBO is the constant log K for a uniform prior, so it is dropped (Sec. 3.1).
        loss = recon + codebook + self.beta * commitment
        return VQTerms(loss=loss, recon=recon, codebook=codebook, commitment=commitment, codes=codes)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The discrete code of each image, (N, M) integers in [0, K)."""
        return self.quantizer(self.encode(x))[2]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        z_q = self.quantizer(self.encode(x))[1]
        return torch.sigmoid(self.decoder(z_q.flatten(1)))

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Images (Bernoulli means) for given codes (N, M): how a prior's samples become digits."""
        check_shape("codes", codes, (None, self.num_slots))
        return torch.sigmoid(self.decoder(self.quantizer.codebook[codes].flatten(1)))


def code_perplexity(codes: torch.Tensor, num_codes: int) -> float:
    """exp(entropy of the average code usage): K if every code is used equally, 1 if one code wins."""
    counts = torch.bincount(codes.flatten(), minlength=num_codes).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return float(entropy.exp())


# ---------------------------------------------------------------------------------------------
# 4b. The second stage of the VQ-VAE: a prior over codes, fitted after training (VQ-VAE Sec. 3.3)
# ---------------------------------------------------------------------------------------------

class CodePrior(nn.Module):
    """p(c) = prod_m p(c_m | c_<m) over the M code slots of one image.

    The paper fits a PixelCNN (images) or WaveNet (audio) over its latent grid. Our M = 4 slots need
    far less: one masked linear layer on the one-hot codes (a one-layer MADE, i.e. a softmax
    regression per slot on the slots before it). autoregressive=False masks every connection and
    keeps the biases only: independent per-slot categoricals, the simplest prior that is not uniform.
    """

    def __init__(self, num_slots: int, num_codes: int, autoregressive: bool = True) -> None:
        super().__init__()
        check_positive("num_slots", num_slots, integer=True)
        check_positive("num_codes", num_codes, integer=True)
        self.num_slots, self.num_codes = num_slots, num_codes
        n = num_slots * num_codes
        self.linear = nn.Linear(n, n)
        nn.init.zeros_(self.linear.weight)
        slot = torch.arange(n) // num_codes
        mask = (slot[:, None] > slot[None, :]).float()      # output slot m sees input slots < m only
        self.register_buffer("mask", mask if autoregressive else torch.zeros_like(mask))

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, M) codes -> (N, M, K) logits of p(c_m | c_<m); c_m itself is masked out of its own row."""
        check_shape("codes", codes, (None, self.num_slots))
        one_hot = F.one_hot(codes, self.num_codes).float().flatten(1)
        out = F.linear(one_hot, self.linear.weight * self.mask, self.linear.bias)
        return out.view(-1, self.num_slots, self.num_codes)

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(c) in nats, (N,)."""
        logp = F.log_softmax(self.logits(codes), -1)
        return logp.gather(-1, codes.unsqueeze(-1)).squeeze(-1).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling, one slot at a time (the mask makes slot m depend on slots < m only)."""
        check_positive("n", n, integer=True)
        dev = self.linear.weight.device
        codes = torch.zeros(n, self.num_slots, dtype=torch.long, device=dev)
        for m in range(self.num_slots):
            probs = F.softmax(self.logits(codes)[:, m], -1).cpu()
            codes[:, m] = torch.multinomial(probs, 1, generator=gen).squeeze(-1).to(dev)
        return codes


def fit_code_prior(codes: torch.Tensor, num_codes: int, autoregressive: bool = True, steps: int = 300,
                   lr: float = 0.05, weight_decay: float = 1e-3, seed: int = 0) -> CodePrior:
    """Maximum likelihood on the training images' codes (full batch, Adam); the VQ-VAE stays frozen."""
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    torch.manual_seed(seed)
    prior = CodePrior(codes.shape[1], num_codes, autoregressive).to(codes.device)
    opt = torch.optim.Adam(prior.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = -prior.log_prob(codes).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return prior.eval()


# ---------------------------------------------------------------------------------------------
# 5. Training (AEVB Algorithm 1) and measurements
# ---------------------------------------------------------------------------------------------

@dataclass
class Digits:
    """The digits split, flattened to (N, 64) in [0, 1], on the training device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_data(dev: torch.device | None = None, seed: int = 0) -> Digits:
    """The season's shared digits split (a stratified 75/25 split drawn with `seed`), flattened."""
    dev = dev or device()
    x_tr, y_tr, x_te, y_te = load_digits_split(test_fraction=0.25, seed=seed)
    return Digits(x_tr.flatten(1).to(dev), y_tr.to(dev), x_te.flatten(1).to(dev), y_te.to(dev))


@dataclass
class TrainResult:
    """What train_vae / train_vqvae return: the model, the data it saw, and per-epoch history."""

    model: nn.Module
    data: Digits
    history: dict[str, list[float]] = field(default_factory=dict)


def _minibatches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    # A CPU generator makes the shuffling identical on CPU and GPU runs.
    return list(torch.randperm(n, generator=gen).split(batch_size))


@torch.no_grad()
def _mean_elbo(model: VAE, x: torch.Tensor) -> float:
    return float(model.elbo(x).elbo.mean())


def train_vae(latent_dim: int = 2, hidden: int = 256, epochs: int = 250, batch_size: int = 100,
              lr: float = 1e-3, seed: int = 0, beta: float = 1.0) -> TrainResult:
    """Algorithm 1 of AEVB: minibatch of M datapoints, one eps per datapoint, ascend L^B (eq. 8).

    beta weighs the KL term (beta = 1 is the paper's bound). beta != 1 is not in AEVB: it is the
    later beta-VAE knob we use to trace a rate-distortion curve; beta = 0 removes the KL term and
    leaves a plain (noisy) autoencoder, the ablation of the notebook.
    history: epoch (0 = at initialisation), train_elbo and test_elbo (always the true beta = 1 bound),
    both in nats per image.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        check_positive(name, value, integer=True)
    check_positive("lr", lr)
    check_number("beta", beta, low=0)
    gen = seed_everything(seed)
    dev = device()
    data = load_data(dev, seed)      # the train/test split follows the run's seed too
    model = VAE(latent_dim, hidden).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict[str, list[float]] = {"epoch": [0], "train_elbo": [_mean_elbo(model, data.x_train)],
                                    "test_elbo": [_mean_elbo(model, data.x_test)]}
    for epoch in range(1, epochs + 1):
        total = 0.0
        for idx in _minibatches(len(data.x_train), batch_size, gen):
            x = data.x_train[idx.to(dev)]
            terms = model.elbo(x)
            loss = -(terms.log_lik - beta * terms.kl).mean()   # beta = 1: maximise the bound
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += terms.elbo.sum().item()
        hist["epoch"].append(epoch)
        hist["train_elbo"].append(total / len(data.x_train))   # running average over the epoch
        hist["test_elbo"].append(_mean_elbo(model, data.x_test))
    model.eval()
    return TrainResult(model, data, hist)


def train_vqvae(num_codes: int = 32, code_dim: int = 8, num_slots: int = 4, hidden: int = 256,
                beta: float = 0.25, epochs: int = 100, batch_size: int = 100, lr: float = 2e-3,
                seed: int = 0) -> TrainResult:
    """Train the VQ-VAE on its eq. (3). history: epoch, test_recon (nats/image), test_perplexity."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        check_positive(name, value, integer=True)
    check_positive("lr", lr)
    gen = seed_everything(seed)
    dev = device()
    data = load_data(dev, seed)
    model = VQVAE(num_codes, code_dim, num_slots, hidden, beta).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict[str, list[float]] = {"epoch": [], "test_recon": [], "test_perplexity": []}

    def log(epoch: int) -> None:
        with torch.no_grad():
            terms = model.losses(data.x_test)
        hist["epoch"].append(epoch)
        hist["test_recon"].append(float(terms.recon))
        hist["test_perplexity"].append(code_perplexity(terms.codes, num_codes))

    log(0)
    for epoch in range(1, epochs + 1):
        for idx in _minibatches(len(data.x_train), batch_size, gen):
            loss = model.losses(data.x_train[idx.to(dev)]).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        log(epoch)
    model.eval()
    return TrainResult(model, data, hist)


@torch.no_grad()
def latent_knn_accuracy(model: VAE, data: Digits, k: int = 5) -> float:
    """Fit k-NN on the training latents (posterior means), score it on the test latents."""
    from sklearn.neighbors import KNeighborsClassifier

    check_positive("k", k, integer=True)
    z_tr = model.encode(data.x_train)[0].cpu().numpy()
    z_te = model.encode(data.x_test)[0].cpu().numpy()
    knn = KNeighborsClassifier(n_neighbors=k).fit(z_tr, data.y_train.cpu().numpy())
    return float(knn.score(z_te, data.y_test.cpu().numpy()))


@torch.no_grad()
def reconstruction_mse(model: VAE | VQVAE, x: torch.Tensor) -> float:
    """Mean squared error per pixel between x and its deterministic reconstruction."""
    return float((model.reconstruct(x) - x).pow(2).mean())


@torch.no_grad()
def decode_grid(model: VAE, n: int = 15) -> np.ndarray:
    """The learned manifold of AEVB App. A: decode z on an n×n grid of N(0, I) quantiles.

    Linearly spaced points of the unit square go through the inverse Gaussian CDF, so the grid
    covers the prior evenly in probability. Returns tiles shaped (n, n, 8, 8): row i, column j holds
    the decoding of (z_1, z_2) = (t_j, t_{n-1-i}), so z_1 grows to the right and z_2 upwards.
    """
    check_positive("n", n, integer=True)
    if model.latent_dim != 2:
        raise ValueError(f"model.latent_dim: expected 2 for a grid, got {model.latent_dim}")
    dev = next(model.parameters()).device
    q = torch.linspace(0.5 / n, 1 - 0.5 / n, n, dtype=torch.float64)
    ticks = torch.distributions.Normal(0.0, 1.0).icdf(q).float()
    z1, z2 = torch.meshgrid(ticks, ticks.flip(0), indexing="xy")     # row 0 = largest z_2
    z = torch.stack([z1, z2], -1).reshape(-1, 2).to(dev)
    return model.decode(z).view(n, n, 8, 8).cpu().numpy()


@torch.no_grad()
def importance_log_likelihood(model: VAE, x: torch.Tensor, samples: int = 500) -> torch.Tensor:
    """log p(x) ≈ log 1/S sum_s p(x, z_s) / q(z_s|x), z_s ~ q(z|x): a tighter bound than the ELBO.

    Used by the tests to check eq. (1)-(2): ELBO <= log p(x). Returns (N,).
    """
    check_positive("samples", samples, integer=True)
    mu, logvar = model.encode(x)
    z = reparameterize(mu.expand(samples, *mu.shape), logvar.expand(samples, *logvar.shape))  # (S, N, J)
    normal = torch.distributions.Normal
    log_prior = normal(0.0, 1.0).log_prob(z).sum(-1)
    log_q = normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    log_lik = bernoulli_log_likelihood(x.expand(samples, *x.shape), model.decoder(z))
    return torch.logsumexp(log_lik + log_prior - log_q, dim=0) - math.log(samples)


@torch.no_grad()
def rate_and_distortion(model: VAE | VQVAE, x: torch.Tensor) -> tuple[float, float]:
    """(rate, distortion) on x: the KL term of eq. (3) in nats per image, and the reconstruction MSE.

    For the VQ-VAE the KL to a uniform prior over K codes is the constant M log K (VQ-VAE Sec. 3.1),
    an upper bound on the information its code can carry.
    """
    if isinstance(model, VQVAE):
        rate = model.num_slots * math.log(model.quantizer.num_codes)
    else:
        rate = float(model.elbo(x).kl.mean())
    return rate, reconstruction_mse(model, x)


def mse_at_rate(points: np.ndarray, rate: float) -> float:
    """The distortion a Gaussian rate-distortion sweep reaches at `rate` (nats per image).

    points: (P, 2) rows of (rate, MSE), one per beta. We use the operational curve: at rate R, the best
    MSE of any point that spends at most R nats (a code that spends less is also allowed at R). It is
    non-increasing by construction; raw points can wobble at high rate, where extra nats buy
    memorisation of the training set rather than test MSE. Interpolated linearly in log MSE.
    """
    pts = np.asarray(points, dtype=float)
    check_arg(pts.ndim == 2 and pts.shape[1] == 2 and len(pts) >= 2, "points", "shape (P >= 2, 2)", pts.shape)
    order = np.argsort(pts[:, 0])
    rates, envelope = pts[order, 0], np.minimum.accumulate(pts[order, 1])
    check_arg(rates[0] <= rate <= rates[-1], "rate", f"a rate inside the sweep's {rates[0]:.1f}-{rates[-1]:.1f} nats",
              round(float(rate), 2))
    return float(np.exp(np.interp(rate, rates, np.log(envelope))))


@torch.no_grad()
def codes_in_prior_region(model: VAE, x: torch.Tensor, level: float = 0.95) -> float:
    """Share of posterior means mu(x) inside the ball that holds `level` of the prior N(0, I)'s mass.

    The KL term pulls every q(z|x) towards the prior, so the codes should fill this ball and little
    else; without it (a plain autoencoder) they sit wherever the decoder likes, and decoding prior
    samples probes regions that no image was ever encoded to.
    """
    from scipy.stats import chi2

    check_number("level", level, low=0, high=1, strict_low=True)
    mu = model.encode(x)[0]
    return float((mu.pow(2).sum(-1) <= chi2.ppf(level, model.latent_dim)).float().mean())


@torch.no_grad()
def nearest_neighbour_mse(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over images of the per-pixel squared distance to the closest reference image.

    A cheap realism score for generated digits: real test digits sit at some distance from the
    training set; samples that decode to noise sit much further away. (It cannot tell a good sample
    from a copy of a training image: read it together with the pictures.)
    """
    d2 = torch.cdist(images.flatten(1).float().cpu(), reference.flatten(1).float().cpu()).pow(2)
    return float(d2.min(1).values.mean() / images.flatten(1).shape[1])
