# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Generative Adversarial Nets
#
# Two networks play a game. The **generator** $G$ turns noise $z \sim p_z$ into samples; the
# **discriminator** $D$ outputs the probability that its input is real data rather than a sample of
# $G$. $D$ tries to tell them apart, $G$ tries to fool it:
#
# $$\min_G \max_D V(D, G) = \mathbb E_{x\sim p_{data}}[\log D(x)] + \mathbb E_{z\sim p_z}[\log(1 - D(G(z)))].$$
#
# We play this game on a 1-D Gaussian (the paper's Fig. 1), check the theory of Sec. 4, look at why
# the paper changes the generator's loss, and then train on a ring of 8 Gaussians and on 8×8 digits,
# including one setting that fails to settle. All the machinery is in `minimal_impls/gan.py`.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import paperclub
from minimal_impls import gan

t_start = time.time()
S = paperclub.seed()       # 0 for the page's run; `paperclub sweep` re-runs the notebook with 1, 2, ...
torch.set_num_threads(1)   # tiny models: a second thread costs more than it saves
SLIDE = {"font.size": 15, "axes.titlesize": 16, "axes.labelsize": 15, "legend.fontsize": 13}   # deck versions


def render(fig: plt.Figure) -> np.ndarray:
    """A matplotlib figure as an RGB array (a GIF frame)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


# %% [markdown]
# ## 1. The game in one dimension (Fig. 1)
#
# Data: $p_{data} = \mathcal N(2, 0.5^2)$. The generator maps 1-D noise $z\sim\mathcal N(0,1)$ through a
# small MLP; at initialisation it puts all its mass near 0. We run Algorithm 1 ($k=1$, minibatches of
# 128) and stop at a few points to draw what the paper draws: the data density (black, dotted), the
# generator's density (green, a histogram of 20,000 samples), the discriminator $D(x)$ (blue, dashed),
# and, underneath, how $G$ maps evenly spaced values of $z$ (lower line) onto $x$ (upper line).

# %%
MEAN, STD = 2.0, 0.5
data_1d = gan.gaussian_1d(20_000, MEAN, STD, seed=100 + S)
g1 = gan.GAN(data_1d, noise_dim=1, hidden=32, activation="elu", lr_d=5e-4, lr_g=5e-4, seed=S)

xs = torch.linspace(-1.5, 4.5, 400)
p_data_1d = torch.distributions.Normal(MEAN, STD).log_prob(xs).exp()
z_marks = torch.linspace(-2.2, 2.2, 15)[:, None]
snapshots = []
for it in [0, 50, 200, 500, 1500]:
    if it > g1.iteration:
        g1.train(it - g1.iteration)
    with torch.no_grad():
        snapshots.append(dict(it=it, d=g1.D.prob(xs[:, None]).numpy(), x=g1.sample(20_000)[:, 0].numpy(),
                              gz=g1.G(z_marks)[:, 0].numpy()))
final_1d = snapshots[-1]["x"]
print(f"after {g1.iteration} iterations: p_g mean {final_1d.mean():.2f} (data {MEAN}), std {final_1d.std():.2f} (data {STD})")

# %%
lo, hi = xs[0].item(), xs[-1].item()
fig, axes = plt.subplots(1, len(snapshots), figsize=(10, 2.9), sharey=True)
for ax, s in zip(axes, snapshots):
    dens, edges = np.histogram(s["x"], bins=80, range=(lo, hi), density=True)
    ax.plot(xs, p_data_1d, "k:", lw=1.6, label="$p_{data}$")
    ax.plot(0.5 * (edges[1:] + edges[:-1]), dens, "g-", lw=1.2, label="$p_g$")
    ax.plot(xs, s["d"], "b--", lw=1.2, label="$D(x)$")
    z_pos = lo + (z_marks[:, 0].numpy() + 2.5) / 5 * (hi - lo)      # the z line, drawn under x
    for a, b in zip(z_pos, s["gz"]):
        ax.annotate("", xy=(b, -0.12), xytext=(a, -0.42), arrowprops=dict(arrowstyle="->", lw=0.6, color="0.4"))
    ax.axhline(-0.12, color="k", lw=0.6)
    ax.plot([lo, hi], [-0.42, -0.42], "k", lw=0.6)
    ax.text(lo + 0.1, -0.37, "z", fontsize=8)
    ax.text(lo + 0.1, -0.07, "x", fontsize=8)
    ax.set(title=f"iteration {s['it']}", xlim=(lo, hi), ylim=(-0.5, 1.3), yticks=[0, 0.5, 1])
axes[0].legend(fontsize=7, loc="upper left")
fig.tight_layout()
paperclub.savefig(fig, "fig1-filmstrip")
plt.show()

# %% [markdown]
# Read it left to right, as the paper's panels (a)-(d): $D$ first learns to prefer the right-hand side,
# its slope pulls $G(z)$ towards the data, and once $p_g$ sits on $p_{data}$ the discriminator is flat
# at $\tfrac12$: it can no longer tell. (The match is not perfect and not stable: in this run the
# spread of $p_g$ keeps oscillating around the data's; GAN training finds a saddle point, not a minimum.)
#
# ## 2. The optimal discriminator (Proposition 1)
#
# For a **fixed** generator, the $D$ that maximises $V$ is, pointwise,
#
# $$D^*_G(x) = \frac{p_{data}(x)}{p_{data}(x) + p_g(x)}.$$
#
# To check it we need a generator whose density we know: we take $p_g = \mathcal N(0, 1)$ (a generator
# $G(z) = z$) and run only Algorithm 1's inner loop on samples of the two distributions.

# %%
normal = torch.distributions.Normal
p_data, p_g = normal(MEAN, STD).log_prob(xs).exp(), normal(0.0, 1.0).log_prob(xs).exp()
d_star = gan.optimal_discriminator(p_data, p_g)
# Fresh minibatches of both known distributions, and a learning rate annealed to zero.
D_fit = gan.fit_discriminator(gan.gaussian_sampler(MEAN, STD), gan.gaussian_sampler(0.0, 1.0),
                              steps=2000, batch_size=512, lr=1e-2, schedule="cosine", seed=S)
# The naive version: one fixed sample of 20,000 points each, constant learning rate.
D_naive = gan.fit_discriminator(gan.gaussian_1d(20_000, MEAN, STD, seed=200 + S),
                                gan.gaussian_1d(20_000, 0.0, 1.0, seed=300 + S),
                                steps=1500, lr=3e-3, schedule="constant", seed=S)
torch.manual_seed(S)
D_untrained = gan.Discriminator(1, 64)
prop1_err = gan.discriminator_error(D_fit, xs[:, None], p_data, p_g, min_density=0.01)
naive_err = gan.discriminator_error(D_naive, xs[:, None], p_data, p_g, min_density=0.01)
paperclub.record("prop1_max_error", prop1_err)
paperclub.record("prop1_max_error_constant_lr", naive_err)
paperclub.record("prop1_max_error_untrained", gan.discriminator_error(D_untrained, xs[:, None], p_data, p_g))
print(f"max |D - D*|: annealed, fresh samples {prop1_err:.3f};  constant lr, fixed sample {naive_err:.3f}")

xq = torch.linspace(-8.0, 8.0, 8001, dtype=torch.float64)      # a wide grid for the integrals
pq_data, pq_g = normal(MEAN, STD).log_prob(xq).exp(), normal(0.0, 1.0).log_prob(xq).exp()
dx = (xq[1] - xq[0]).item()
c_g = gan.virtual_criterion(pq_data, pq_g, dx)
jsd = gan.jensen_shannon(pq_data, pq_g, dx)
print(f"C(G) = max_D V = {c_g:.4f};  -log 4 + 2 JSD = {-np.log(4) + 2 * jsd:.4f}  (Theorem 1, JSD = {jsd:.4f} nats)")

# %%
with torch.no_grad():
    d_learned, d_naive = D_fit.prob(xs[:, None]).numpy(), D_naive.prob(xs[:, None]).numpy()
region = (0.5 * (p_data + p_g) >= 0.01).numpy()
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax.fill_between(xs, 0, 1, where=region, color="0.93", label="where the error is measured")
ax.plot(xs, p_data, "k:", label="$p_{data}$")
ax.plot(xs, p_g, "g-", label="$p_g$ (fixed)")
ax.plot(xs, d_star, "r-", lw=3, alpha=0.4, label="$D^*_G$ (eq. 2)")
ax.plot(xs, d_learned, "b--", label="trained $D$")
ax.set(xlabel="x", title=f"Trained D vs. Proposition 1 (max error {prop1_err:.3f})", ylim=(0, 1.05))
ax.legend(fontsize=8, loc="upper left")
err_fit, err_naive = np.abs(d_learned - d_star.numpy()), np.abs(d_naive - d_star.numpy())
ax2.plot(xs[region], err_naive[region], color="C3", label="constant lr, fixed sample")
ax2.plot(xs[region], err_fit[region], color="C0", label="annealed lr, fresh samples")
ax2.axhline(0.02, color="0.4", ls=":", lw=1)
ax2.set(xlabel="x (measured region)", ylabel="$|D - D^*_G|$", title="Error of the trained discriminator")
ax2.legend(fontsize=8)
fig.tight_layout()
paperclub.savefig(fig, "optimal-discriminator")
plt.show()

with plt.rc_context(SLIDE):                      # the left panel, sized for the deck
    fig, ax = plt.subplots(figsize=(10, 5.2))
    ax.fill_between(xs, 0, 1, where=region, color="0.93", label="measured region")
    ax.plot(xs, p_data, "k:", lw=2, label="$p_{data}$")
    ax.plot(xs, p_g, "g-", lw=2, label="$p_g$ (fixed)")
    ax.plot(xs, d_star, "r-", lw=5, alpha=0.4, label="$D^*_G$ (eq. 2)")
    ax.plot(xs, d_learned, "b--", lw=2, label="trained $D$")
    ax.set(xlabel="x", ylabel="density / probability", title="Trained D against Proposition 1", ylim=(0, 1.05))
    ax.legend(loc="upper left")
    fig.tight_layout()
    paperclub.savefig(fig, "optimal-discriminator-slide")
    plt.close(fig)

# %% [markdown]
# Inside the shaded region the trained $D$ lies on $D^*_G$; note that $D^*_G$ falls again on the far
# right, where the narrow data density decays faster than $p_g$. Outside the region neither
# distribution has samples, and nothing ties $D$ to $D^*_G$. Two details decide whether the match is
# good to two decimals (right panel). A fixed sample of 20,000 points has its own density ratio, a few
# hundredths off $D^*_G$ in the tails, so we draw fresh minibatches from the two known distributions;
# and a constant learning rate keeps Adam jittering around the optimum, so we anneal it to zero. The printed line checks Theorem 1
# numerically: plugging $D^*_G$ into $V$ gives $-\log 4 + 2\,\mathrm{JSD}(p_{data}\,\|\,p_g)$.
#
# ## 3. Why the paper changes the generator's loss (Sec. 3)
#
# Early in training $G$ is poor and $D$ rejects its samples with confidence, $D(G(z)) \approx 0$. There
# the minimax loss $\log(1 - D(G(z)))$ is flat: its derivative with respect to $D$'s logit is
# $-D(G(z))$. The paper's fix is to let $G$ maximise $\log D(G(z))$ instead, whose derivative is
# $-(1 - D(G(z)))$: same fixed point, strong gradients exactly when they are needed. We measure it:
# take the 1-D generator at initialisation, train only $D$, and compute the norm of each loss's
# gradient with respect to $G$'s parameters as $D$ becomes confident.

# %%
g_sat = gan.GAN(data_1d, noise_dim=1, hidden=32, activation="elu", seed=S)
rows = []
for steps in [0, 10, 25, 50, 100, 200, 400]:
    if steps > 0:
        g_sat.train_discriminator(steps - rows[-1][0])
    with torch.no_grad():
        d_fake = g_sat.D.prob(g_sat.sample(4096)).mean().item()
    rows.append((steps, d_fake, g_sat.generator_grad_norm("minimax", 4096),
                 g_sat.generator_grad_norm("non_saturating", 4096)))
steps_, d_fake_, gm_, gn_ = map(np.array, zip(*rows))
i200 = list(steps_).index(200)
paperclub.record("d_fake_at_measurement", d_fake_[i200])
paperclub.record("grad_norm_minimax", gm_[i200])
paperclub.record("grad_norm_non_saturating", gn_[i200])
paperclub.record("grad_ratio_ns_over_minimax", gn_[i200] / gm_[i200])
paperclub.record("grad_ratio_formula", (1 - d_fake_[i200]) / d_fake_[i200])   # (1 - D) / D, per sample
print(f"after 200 D steps: norm ratio {gn_[i200] / gm_[i200]:.0f}, (1 - D) / D = {(1 - d_fake_[i200]) / d_fake_[i200]:.0f}")
for s, d, m, n in rows:
    print(f"D steps {s:4d}:  mean D(G(z)) = {d:.3f}   |grad| minimax {m:.3g}   non-saturating {n:.3g}")

# %%
fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.4))
dd = np.linspace(0.001, 0.999, 200)
a1.plot(dd, dd, label=r"minimax: $\log(1-D)$")
a1.plot(dd, 1 - dd, label=r"non-saturating: $-\log D$")
a1.set(xlabel="$D(G(z))$", ylabel="|d loss / d logit|", title="Per-sample gradient at D's output")
a1.legend(fontsize=8)
a2.plot(steps_[1:], gm_[1:], "o-", label="minimax")
a2.plot(steps_[1:], gn_[1:], "s-", label="non-saturating")
a2.set(xscale="log", yscale="log", xlabel="discriminator-only steps", ylabel=r"$\|\nabla_{\theta_g}\,$loss$\|$",
       title="Measured generator gradient norm")
for s, d, m in zip(steps_[1:], d_fake_[1:], gm_[1:]):
    a2.annotate(f"D={d:.2g}", (s, m), textcoords="offset points", xytext=(0, -12), fontsize=7, ha="center")
a2.set_xlim(7, 600)
a2.legend(fontsize=8)
fig.tight_layout()
paperclub.savefig(fig, "generator-gradients")
plt.show()

# %% [markdown]
# The labels under the minimax curve give $\mathbb E[D(G(z))]$. As $D$ gets more confident the minimax
# gradient shrinks while the non-saturating one grows. The ratio of the two norms is close to what the
# per-sample formula $(1-D)/D$ predicts (printed below): that part is arithmetic. Whether it matters for
# *training* is the next experiment.
#
# ## 4. Minimax against non-saturating, with the paper's SGD
#
# The paper trains with plain minibatch SGD with momentum (Algorithm 1). With SGD, a tiny gradient is a
# tiny step: nothing rescales it, as Adam would. We train the same GAN on the 8×8 digits (64 numbers in
# $[0,1]$, a sigmoid on $G$'s output, 16-D noise) twice, changing only the generator's loss. To score
# the samples we measure their distance to the nearest real digit (mean squared difference per pixel).

# %%
x_digits, y_digits = gan.digits_data()
sgd_runs = {}
for kind in ("minimax", "non_saturating"):
    g = gan.GAN(x_digits, noise_dim=16, hidden=128, output="sigmoid", batch_size=64, optimizer="sgd",
                lr_d=0.1, lr_g=0.1, momentum=0.5, g_loss=kind, seed=S)
    trace = []
    for _ in range(6):
        g.train(100)
        trace.append((g.iteration, gan.nearest_neighbour_mse(g.sample(300), x_digits), g.history["d_fake"][-1]))
    sgd_runs[kind] = (g, np.array(trace))
ns_nn, mm_nn = sgd_runs["non_saturating"][1][-1, 1], sgd_runs["minimax"][1][-1, 1]
paperclub.record("ns_sgd_digits_nn_mse", ns_nn)
paperclub.record("minimax_sgd_digits_nn_mse", mm_nn)
paperclub.record("minimax_sgd_d_fake", sgd_runs["minimax"][1][-1, 2])
paperclub.record("ns_sgd_d_fake", sgd_runs["non_saturating"][1][-1, 2])
for kind, (g, tr) in sgd_runs.items():
    print(f"{kind:15s} after {g.iteration} iterations: distance to nearest digit {tr[-1, 1]:.3f}, D(G(z)) {tr[-1, 2]:.3f}")

# %% [markdown]
# The distance to the nearest real digit has a blind spot: a generator that always emits one training
# digit (a **memorising** $G$) scores a perfect 0, and one that always emits the average digit (a
# **constant** $G$) scores well too. So we also ask a digit classifier (logistic regression fitted on
# the real digits) which class each of 1,000 samples looks like, and count the classes that get at least
# 5 % of the samples (an even spread gives 10 % each).

# %%
judge = gan.digit_classifier(x_digits, y_digits)
one_digit = x_digits[S * 97 % len(x_digits)]                   # the memorised training digit
cheats = {"memorising G": one_digit.expand(1000, 64), "constant G (mean digit)": x_digits.mean(0).expand(1000, 64)}
samples_1000 = {kind: sgd_runs[kind][0].sample(1000) for kind in ("non_saturating", "minimax")}
coverage_digits = {name: gan.class_coverage(smp, judge) for name, smp in {**samples_1000, **cheats}.items()}
nn_cheats = {name: gan.nearest_neighbour_mse(smp[:300], x_digits) for name, smp in cheats.items()}
paperclub.record("ns_sgd_classes_covered", coverage_digits["non_saturating"][0])
paperclub.record("ns_sgd_largest_class_share", coverage_digits["non_saturating"][1].max())
paperclub.record("minimax_sgd_classes_covered", coverage_digits["minimax"][0])
paperclub.record("memorising_g_classes_covered", coverage_digits["memorising G"][0])
paperclub.record("memorising_g_digits_nn_mse", nn_cheats["memorising G"])
paperclub.record("constant_g_classes_covered", coverage_digits["constant G (mean digit)"][0])
paperclub.record("constant_g_digits_nn_mse", nn_cheats["constant G (mean digit)"])
for name, (n_cls, share) in coverage_digits.items():
    nn = {"non_saturating": ns_nn, "minimax": mm_nn, **nn_cheats}[name]
    print(f"{name:24s} classes covered {n_cls:2d}/10 (largest share {share.max():.0%}), distance to nearest digit {nn:.3f}")


# %%
def tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    canvas = np.ones((rows * 9 - 1, cols * 9 - 1))
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        canvas[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = 1 - images[i].reshape(8, 8)
    return canvas


fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), gridspec_kw=dict(width_ratios=[1.2, 1.2, 1, 1]))
for kind, colour in (("minimax", "C3"), ("non_saturating", "C0")):
    tr = sgd_runs[kind][1]
    axes[0].plot(tr[:, 0], tr[:, 1], "o-", color=colour, label=kind.replace("_", "-"))
    axes[1].semilogy(tr[:, 0], np.maximum(tr[:, 2], 1e-6), "o-", color=colour, label=kind.replace("_", "-"))
axes[0].set(xlabel="iteration", ylabel="distance to nearest digit", title="Sample quality (lower is better)")
axes[1].set(xlabel="iteration", ylabel="mean D(G(z))", title="How confidently D rejects G")
axes[0].legend(fontsize=8)
for ax, kind in zip(axes[2:], ("minimax", "non_saturating")):
    ax.imshow(tile(sgd_runs[kind][0].sample(36).cpu().numpy(), 6, 6), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set(title=f"{kind.replace('_', '-')} samples", xticks=[], yticks=[])
fig.suptitle("SGD with momentum, as in the paper: the minimax generator stalls", fontsize=11)
fig.tight_layout()
paperclub.savefig(fig, "saturation-sgd")
plt.show()

with plt.rc_context(SLIDE):
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.8), gridspec_kw=dict(width_ratios=[1.4, 1, 1]))
    for kind, colour in (("minimax", "C3"), ("non_saturating", "C0")):
        tr = sgd_runs[kind][1]
        axes[0].plot(tr[:, 0], tr[:, 1], "o-", color=colour, lw=2.5, ms=8, label=kind.replace("_", "-"))
    axes[0].set(xlabel="iteration", ylabel="distance to nearest digit", title="Sample quality")
    axes[0].legend()
    for ax, kind in zip(axes[1:], ("minimax", "non_saturating")):
        ax.imshow(tile(sgd_runs[kind][0].sample(25).cpu().numpy(), 5, 5), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set(title=kind.replace("_", "-"), xticks=[], yticks=[])
    fig.tight_layout()
    paperclub.savefig(fig, "saturation-sgd-slide")
    plt.close(fig)

# %% [markdown]
# With the minimax loss, $D$ wins at once: $D(G(z))$ drops to almost zero and stays there, the generator's gradient vanishes with it, and its samples stay the blobs of initialisation.
# With the non-saturating loss the same generator, same step size, learns digits. This is the
# practical content of the paper's Sec. 3 remark. But it **collapses partly**: the classifier sees only
# some of the ten digits in its samples (the class counts printed above), while the memorising and
# constant generators, which fool the distance, fill one class each.
#
# ## 5. A ring of 8 Gaussians: coverage and collapse (our experiment)
#
# The paper has no such experiment. Eight Gaussians (std 0.05) on a circle of radius 2 is the standard
# test, from later work (Metz et al. 2017; Srivastava et al. 2017), of whether a generator covers all
# the modes: the question the paper's Sec. 6 raises. A sample is *high quality* if it lies within 3 std of a centre; a mode is
# *covered* if at least 1% of the samples are high-quality samples of it. The two numbers only mean
# something together, and against generators that cheat: an **untrained** $G$ (no mode, no quality) and
# a **constant** $G(z) \equiv$ one centre (perfect quality, one mode).
#
# We train two GANs (Adam) that differ in one number. The first uses the same learning rate for both
# players. The second gives the discriminator a learning rate **10× smaller**, so $G$ gets many
# effective updates for each real change of $D$, which is what the paper warns against in Sec. 6: "G
# must not be trained too much without updating D, in order to avoid the Helvetica scenario".

# %%
STD_RING = 0.05
ring = gan.ring_of_gaussians(4000, std=STD_RING, seed=100 + S)
centers = gan.ring_centers()
settings = {"balanced (lr_D = lr_G)": dict(lr_d=1e-3, lr_g=1e-3), "slow D (lr_D = lr_G / 10)": dict(lr_d=1e-4, lr_g=1e-3)}
runs, ring_frames = {}, {}
untrained = gan.GAN(ring, noise_dim=2, hidden=128, seed=S)
controls = {"untrained G": gan.mode_coverage(untrained.sample(2000), centers, STD_RING),
            "constant G": gan.mode_coverage(centers[:1].repeat(2000, 1), centers, STD_RING)}
for name, cfg in settings.items():
    g = gan.GAN(ring, noise_dim=2, hidden=128, seed=S, **cfg)
    frames, coverage = [], []
    for _ in range(15):
        g.train(100)
        s = g.sample(2000)
        frames.append(s.cpu().numpy())
        coverage.append(gan.mode_coverage(s, centers, STD_RING))
    runs[name], ring_frames[name] = (g, coverage), frames

(modes_ok, hq_ok), (modes_bad, hq_bad) = (runs[n][1][-1] for n in settings)
paperclub.record("ring_modes_covered", modes_ok)
paperclub.record("ring_high_quality_share", hq_ok)
paperclub.record("collapse_modes_covered", modes_bad)
paperclub.record("collapse_high_quality_share", hq_bad)
paperclub.record("untrained_g_modes_covered", controls["untrained G"][0])
paperclub.record("untrained_g_high_quality_share", controls["untrained G"][1])
paperclub.record("constant_g_modes_covered", controls["constant G"][0])
paperclub.record("constant_g_high_quality_share", controls["constant G"][1])
for name, (m, hq) in [*((n, runs[n][1][-1]) for n in settings), *controls.items()]:
    print(f"{name:28s} modes covered {m}/8, high-quality share {hq:.0%}")

# %%
show_at = [1, 4, 9, 14]                                     # after 200, 500, 1000, 1500 iterations
fig, axes = plt.subplots(2, len(show_at), figsize=(9, 4.6), sharex=True, sharey=True)
for r, name in enumerate(settings):
    for c, i in enumerate(show_at):
        ax = axes[r, c]
        ax.scatter(ring[:600, 0], ring[:600, 1], s=2, c="0.6")
        s = ring_frames[name][i]
        ax.scatter(s[:800, 0], s[:800, 1], s=2, c="C1" if r == 0 else "C3", alpha=0.6)
        m, hq = runs[name][1][i]
        ax.set(xlim=(-3, 3), ylim=(-3, 3), xticks=[], yticks=[], aspect="equal")
        ax.set_title(f"it {(i + 1) * 100}: {m}/8 modes, {hq:.0%} HQ", fontsize=8)
    axes[r, 0].set_ylabel(name, fontsize=8)
fig.suptitle("Samples (colour) over data (grey) on the 8-Gaussian ring", fontsize=10)
fig.tight_layout()
paperclub.savefig(fig, "ring-training")
plt.show()

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.2))
points = [*((n.split(" (")[0], runs[n][1][-1]) for n in settings), *controls.items()]
STYLE = [("C1", "o", 140), ("C3", "X", 220), ("0.4", "s", 70), ("C2", "^", 140)]   # slow D drawn over untrained G
for (name, (m, hq)), (colour, marker, size) in zip(points, STYLE):
    ax.scatter(m, hq, s=size, color=colour, marker=marker, label=name, zorder=3)
ax.axvspan(6.5, 8.5, ymin=(0.3 + 0.05) / 1.1, color="C0", alpha=0.08, label="both claims hold")   # >= 7 modes, >= 30 %
ax.set(xlim=(-0.5, 8.5), ylim=(-0.05, 1.05), xlabel="modes covered (of 8)", ylabel="high-quality share",
       title="Coverage and quality, read together")
ax.legend(fontsize=9, loc="center left")
ax.grid(alpha=0.3)
paperclub.savefig(fig, "ring-quality-coverage")
plt.show()

with plt.rc_context(SLIDE):
    fig, ax = plt.subplots(figsize=(10, 5.4))
    for (name, (m, hq)), (colour, marker, size) in zip(points, STYLE):
        ax.scatter(m, hq, s=2 * size, color=colour, marker=marker, label=name, zorder=3)
    ax.set(xlim=(-0.5, 8.5), ylim=(-0.05, 1.05), xlabel="modes covered (of 8)", ylabel="high-quality share",
           title="Coverage and quality, read together")
    ax.legend(loc="center left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paperclub.savefig(fig, "ring-quality-coverage-slide")
    plt.close(fig)

# %% [markdown]
# Only the balanced run reaches the top right corner. The constant generator has perfect quality and
# one mode; the untrained one neither. The slow-$D$ run is the paper's warning in action, though not as
# a clean collapse onto one mode: against a discriminator that barely moves, $G$'s best response is to
# send every $z$ to wherever $D$ is currently highest; by the time $D$ learns to reject that spot, $G$
# jumps to the next one, so its samples hop around as a narrow streak that rarely lands on a mode
# (few modes, low quality: the printed numbers above). The animation
# shows both runs side by side.

# %%
gif = []
for i in range(len(ring_frames[next(iter(settings))])):
    fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
    for ax, name, colour in zip(axes, settings, ["C1", "C3"]):
        s = ring_frames[name][i]
        ax.scatter(ring[:600, 0], ring[:600, 1], s=1, c="0.6")
        ax.scatter(s[:600, 0], s[:600, 1], s=1, c=colour)
        ax.set(xlim=(-3, 3), ylim=(-3, 3), xticks=[], yticks=[], aspect="equal")
        ax.set_title(name.split(" (")[0], fontsize=8)
    fig.suptitle(f"iteration {(i + 1) * 100}", fontsize=8)
    gif.append(render(fig))
    plt.close(fig)
paperclub.show_animation(gif, "ring-training", fps=4);

# %% [markdown]
# ## Take-aways
#
# - A GAN never writes down $p_g$: the discriminator is a learned, moving critic that points $G$ towards
#   the data. For a fixed $G$ the best critic is $p_{data}/(p_{data} + p_g)$, and against it the game
#   minimises the Jensen-Shannon divergence.
# - The minimax loss gives no gradient when $G$ needs one most; with the paper's SGD the minimax
#   generator stalls where the non-saturating one learns. Same fixed point, different dynamics.
# - Balance matters. A discriminator that lags behind invites the generator to chase whatever point
#   currently fools it. Judge coverage and quality together: each alone is fooled by a trivial generator.

# %%
print(f"notebook ran in {time.time() - t_start:.1f} s")
