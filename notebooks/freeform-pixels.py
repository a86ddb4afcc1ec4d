# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Minimalist vision with freeform pixels
#
# A conventional pixel sees one small square of the scene. A **freeform pixel** is a single
# photodetector behind a printed mask: it sees the *whole* scene, weighted by the mask's
# transmittance $M_k(x, y) \in [0, 1]$, and reports one number
# $p_k = \iint I(x, y)\, M_k(x, y)\, dx\, dy$ (eq. 1). On a pixel grid that is a dot product,
# so $K$ freeform pixels are a linear layer with $K$ outputs whose weights are the masks: the
# first layer of a neural network, computed by light. Klotz & Nayar train the masks together with
# a small network that turns the $K$ readings into an answer, then print the masks.
#
# This notebook replays that on rendered scenes: count 0–5 people in a room seen from the ceiling,
# and estimate a car's speed on a road. Everything calls `minimal_impls/freeform_pixels.py`.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch

import paperclub
from minimal_impls import freeform_pixels as fp
from minimal_impls import freeform_privacy as fpp
from minimal_impls.common import device

torch.set_num_threads(1)   # tiny models: one thread is fastest and leaves the other core free
S = paperclub.seed()       # 0 for the page; 1..4 when the sweep re-runs it: frames, inits, noise all follow
count_data = fp.make_data("count", n_train=1600, n_test=1000, seed=S)
print("room frames:", tuple(count_data.x_train.shape), "test:", tuple(count_data.x_test.shape))

# %% [markdown]
# ## The room, and four masks learned to count its people
#
# The training camera records a 32×32 view of a room from above: a tiled floor (a crop of
# scikit-image's `brick` texture), a wall band, 0–5 people as bright blobs, and light that
# drifts (a global gain of 0.6–1.2× and a gentle ramp, as from a window). The drifting light is
# what makes counting hard for a few pixels: it changes every reading by far more than a person does.
#
# We train $K = 4$ freeform pixels and a two-layer MLP end to end. Each reading passes through a
# photodetector model: the mask's light becomes photo-electrons (200 per fully open cell from a white
# scene) with **shot noise**, whose standard deviation is the square root of the count, plus a little
# read noise; an amplifier sets white to full scale and a 12-bit ADC rounds. A mask that collects
# more light therefore reads more precisely: mask design trades what it blocks against signal.

# %%
SEEDS = [3 * S, 3 * S + 1, 3 * S + 2]      # three training seeds per run
ff4 = fp.train("count", "freeform", 4, data=count_data, seed=SEEDS[0])
print(f"freeform, K=4, training seed {SEEDS[0]}: test accuracy {ff4.score:.1%}")

masks4 = ff4.model.optics.masks().detach().cpu()
fig, ax = plt.subplots(2, 4, figsize=(8, 4))
for j in range(4):
    ax[0, j].imshow(count_data.x_test[j], cmap="gray", vmin=0, vmax=1)
    ax[0, j].set_title(f"{count_data.y_test[j].item()} people", fontsize=9)
    ax[1, j].imshow(masks4[j], cmap="gray", vmin=0, vmax=1)
    ax[1, j].set_title(f"mask $M_{j + 1}$", fontsize=9)
for a in ax.flat:
    a.set_xticks([]); a.set_yticks([])
ax[0, 0].set_ylabel("scenes", fontsize=9)
ax[1, 0].set_ylabel("learned masks\n(white = clear)", fontsize=9)
fig.suptitle("Four rooms, and the four masks learned to count their people", fontsize=10)
fig.tight_layout()
paperclub.savefig(fig, "scenes-and-masks")
plt.show()

# %% [markdown]
# Look at the masks against the floor: they are mostly clear or opaque, and where they are clear on
# the floor they tend to follow the *dark* tiles, where a bright person changes the reading most,
# while some mask area sits on the wall band, which people never enter. A reading of the wall
# measures only the light; the floor readings measure light × (floor + people). The network, working
# on log readings, can subtract the one from the other. Four boxes cannot: each box mixes wall and
# floor in a fixed proportion.
#
# ## Shot noise: light is signal
#
# The same scene read through square masks of growing open area: the reading's signal-to-noise ratio
# grows like the square root of the light collected. (A first version of this toy added a fixed noise
# *after* the gain, which made a pinhole read as precisely as an open mask: a mistake listed in the notes.)

# %%
scene = count_data.x_test[0]
sides = [2, 4, 8, 16, 28]
squares = torch.zeros(len(sides), 32, 32)
for i, side in enumerate(sides):
    squares[i, 16 - side // 2: 16 + (side + 1) // 2, 16 - side // 2: 16 + (side + 1) // 2] = 1
snr = fp.reading_snr(fp.FixedPixels(squares, bits=None), scene)
snr_wrong = fp.reading_snr(fp.FixedPixels(squares, bits=None, noise_after_gain=True), scene)
area = squares.sum((1, 2))
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.loglog(area, snr, "o-", label="shot + read noise (this toy)")
ax.loglog(area, snr_wrong, "s--", label="fixed noise after the gain (a mistake)")
ax.set_xlabel("open area of the mask (cells)")
ax.set_ylabel("SNR of the reading")
ax.set_title("More light, cleaner reading", fontsize=11)
ax.legend(fontsize=9)
fig.tight_layout()
paperclub.savefig(fig, "shot-noise")
plt.show()
snr_gain = paperclub.record("snr_gain_largest_vs_smallest", (snr[-1] / snr[0]).item())
paperclub.record("snr_gain_noise_after_gain", (snr_wrong[-1] / snr_wrong[0]).item())
print(f"a {int(area[-1])}-cell mask reads {snr_gain:.1f}× more precisely than a {int(area[0])}-cell one "
      f"(square root of the area ratio: {(area[-1] / area[0]).sqrt():.1f})")

# %% [markdown]
# ## The headline comparison, over three seeds
#
# At $K = 4$ we train, for each of three seeds: learned freeform pixels; four conventional pixels (the
# image averaged over a 2×2 grid of boxes); and the fair control, **four random blob masks** with the
# same open area and the same smoothness as that seed's learned masks, binary and printable, only not
# learned (the network behind them is trained all the same). The seed changes the masks'
# initialisation and the order of the training batches; the frames are the same.

# %%
free = {SEEDS[0]: ff4} | {s: fp.train("count", "freeform", 4, data=count_data, seed=s) for s in SEEDS[1:]}
conv = {s: fp.train("count", "conventional", 4, data=count_data, seed=s) for s in SEEDS}
blob_masks = {s: fp.matched_blob_masks(free[s].model.optics.masks().detach().cpu(), seed=s) for s in SEEDS}
blobs = {s: fp.train("count", "fixed", 4, data=count_data, masks=blob_masks[s], seed=s) for s in SEEDS}
torch.manual_seed(S)
speckle = fp.FreeformPixels(4, (32, 32)).masks().detach()   # the old control: grey speckle, sigmoid(randn)
acc = {name: np.array([r[s].score for s in SEEDS]) for name, r in
       [("freeform", free), ("conventional", conv), ("random blobs", blobs)]}
for name, a in acc.items():
    print(f"K=4 {name:13s} mean {a.mean():6.1%}  range {a.min():6.1%} – {a.max():6.1%}")
cover = [np.mean([m.mean().item() for m in ms]) for ms in
         ([free[s].model.optics.masks().detach() for s in SEEDS], [blob_masks[s] for s in SEEDS])]
rough = [np.mean([fp.roughness((free[s].model.optics.masks().detach() > 0.5).float()) for s in SEEDS]),
         np.mean([fp.roughness(blob_masks[s]) for s in SEEDS])]
print(f"open area: learned {cover[0]:.2f}, blobs {cover[1]:.2f}; roughness: learned {rough[0]:.3f}, blobs {rough[1]:.3f}")

fig, ax = plt.subplots(1, 5, figsize=(9, 2.3))
for j, (title, m) in enumerate([("learned", masks4[0]), ("learned", masks4[1]), ("random blobs", blob_masks[SEEDS[0]][0]),
                                ("random blobs", blob_masks[SEEDS[0]][1]),
                                ("grey speckle", speckle[0])]):
    ax[j].imshow(m, cmap="gray", vmin=0, vmax=1)
    ax[j].set_title(title, fontsize=10)
    ax[j].set_xticks([]); ax[j].set_yticks([])
fig.suptitle("Learned masks and the two random controls (K = 4)", fontsize=11)
fig.tight_layout()
paperclub.savefig(fig, "controls")
plt.show()

gap_conv = acc["freeform"] - acc["conventional"]
gap_blob = acc["freeform"] - acc["random blobs"]
paperclub.record("freeform_acc_k4_mean", acc["freeform"].mean())
paperclub.record("freeform_acc_k4_min", acc["freeform"].min())
paperclub.record("freeform_acc_k4_max", acc["freeform"].max())
paperclub.record("conventional_acc_k4_mean", acc["conventional"].mean())
paperclub.record("conventional_acc_k4_max", acc["conventional"].max())
paperclub.record("blob_acc_k4_mean", acc["random blobs"].mean())
paperclub.record("blob_acc_k4_max", acc["random blobs"].max())
paperclub.record("blob_coverage", cover[1])
paperclub.record("learned_coverage", cover[0])
paperclub.record("k4_gap_min_over_seeds", gap_conv.min())
paperclub.record("k4_gap_mean", gap_conv.mean())
paperclub.record("learned_vs_blobs_gap_min", gap_blob.min())
paperclub.record("blob_minus_conventional_k4", acc["random blobs"].mean() - acc["conventional"].mean())
paperclub.record("learned_roughness", rough[0])
paperclub.record("blob_roughness", rough[1])
paperclub.record("speckle_roughness", fp.roughness(speckle))

# %% [markdown]
# ## Is it the masks' shape, or just the light? A constant-light ablation
#
# The drifting light makes every reading rise and fall together by far more than a person changes
# it (below: one person changes the reading of the box they stand in by
# a few per cent). So part of the learned masks' lead may be **light normalisation** (a mask on
# the wall measures the light, and the network divides it out), not **spatial selectivity** (masks
# that look where people are and how they contrast with the floor). We separate the two by
# rendering the same rooms under one constant light (gain 0.9, no ramp) and training all three
# cameras again, on the same three seeds. This answers the notes' discussion question 1.

# %%
empty_test = fp.make_room(len(count_data.x_test), seed=2 * S + 1, empty=True)[0]   # make_data's test seed
boxes = fp.block_masks(4, (32, 32))
one = count_data.y_test == 1
box_read = lambda x: (x[:, None] * boxes[None]).sum((-2, -1))                       # noqa: E731
person_change = (box_read(count_data.x_test[one]) / box_read(empty_test[one]) - 1).max(1).values.mean().item()
print(f"one person changes the reading of the box they stand in by {person_change:.1%} on average; "
      f"the light changes it by up to {1.2 * 1.25 / (0.6 * 0.75) - 1:.0%}")
paperclub.record("person_reading_change", person_change)

const_data = fp.make_data("count", n_train=1000, n_test=1000, seed=S, constant_light=True)
free_c = {s: fp.train("count", "freeform", 4, data=const_data, seed=s) for s in SEEDS}
conv_c = {s: fp.train("count", "conventional", 4, data=const_data, seed=s) for s in SEEDS}
blobs_c = {s: fp.train("count", "fixed", 4, data=const_data, seed=s,
                       masks=fp.matched_blob_masks(free_c[s].model.optics.masks().detach().cpu(), seed=s)) for s in SEEDS}
acc_c = {name: np.array([r[s].score for s in SEEDS]) for name, r in
         [("freeform", free_c), ("conventional", conv_c), ("random blobs", blobs_c)]}
for name, a in acc_c.items():
    print(f"constant light, K=4 {name:13s} mean {a.mean():6.1%}  range {a.min():6.1%} – {a.max():6.1%}")
gap_c = acc_c["freeform"] - acc_c["conventional"]
share = gap_c.mean() / gap_conv.mean()
print(f"learned minus boxes: {gap_conv.mean():.1%} under drifting light, {gap_c.mean():.1%} under constant light "
      f"({share:.0%} of the gap is left without light normalisation)")
paperclub.record("freeform_acc_k4_const_min", acc_c["freeform"].min())
paperclub.record("conventional_acc_k4_const_mean", acc_c["conventional"].mean())
paperclub.record("blob_acc_k4_const_mean", acc_c["random blobs"].mean())
paperclub.record("k4_gap_constant_light_min", gap_c.min())
paperclub.record("k4_gap_constant_light_mean", gap_c.mean())
paperclub.record("blob_minus_conventional_k4_constant_light", (acc_c["random blobs"] - acc_c["conventional"]).max())
paperclub.record("k4_gap_share_constant_light", share)

fig, ax = plt.subplots(1, 5, figsize=(10, 2.5), gridspec_kw={"width_ratios": [2.2, 1, 1, 1, 1]})
xs = np.arange(3)
for off, (label, a) in zip((-0.2, 0.2), [("drifting light", acc), ("constant light", acc_c)]):
    ax[0].bar(xs + off, [a[n].mean() for n in ("conventional", "random blobs", "freeform")], 0.4, label=label)
ax[0].set_xticks(xs, ["4 boxes", "4 random blobs", "4 learned"], fontsize=8)
ax[0].set_ylim(0, 1)
ax[0].set_ylabel("test accuracy", fontsize=9)
ax[0].legend(fontsize=7, loc="upper left")
ax[0].set_title("K = 4, mean of 3 seeds", fontsize=9)
for j, m in enumerate(free_c[SEEDS[0]].model.optics.masks().detach().cpu()):
    ax[j + 1].imshow(m, cmap="gray", vmin=0, vmax=1)
    ax[j + 1].set_title(f"constant light: $M_{j + 1}$", fontsize=8)
    ax[j + 1].set_xticks([]); ax[j + 1].set_yticks([])
fig.suptitle("Without drifting light, boxes nearly catch up; learned masks still lead", fontsize=10)
fig.tight_layout()
paperclub.savefig(fig, "constant-light")
plt.show()

# %% [markdown]
# Under constant light four boxes count most rooms and most of the learned masks' lead is gone:
# the notes give the share that is left. That share is spatial selectivity, and it is not zero:
# the learned masks still beat the boxes on every seed, and random blobs of the same area and
# smoothness still do worst. Without a light to measure, the masks no longer need a window onto
# the wall; they spread over the floor and its dark tiles.

# %% [markdown]
# ## Accuracy against the number of pixels (the paper's main comparison)
#
# Now $K = 1 \dots 8$ freeform pixels (three seeds at $K = 2$ and $4$, where the seed matters; one at
# $K = 1$ and $8$), conventional pixels up to 64 boxes, and a small CNN that sees all
# $32 \times 32 = 1024$ cells as separate tiny pixels, each with its own shot noise: the same total
# light split 1024 ways.

# %%
free2 = {s: fp.train("count", "freeform", 2, data=count_data, seed=s) for s in SEEDS}
free1 = fp.train("count", "freeform", 1, data=count_data, seed=SEEDS[0])
free8 = fp.train("count", "freeform", 8, data=count_data, seed=SEEDS[0])
conv_more = {k: fp.train("count", "conventional", k, data=count_data, seed=SEEDS[0]) for k in [1, 8, 16, 64]}
# the CNN: early stopping on a 20 % validation split, as the authors train (at most 60 epochs)
cnn = fp.train("count", "cnn", data=count_data, epochs=60, lr=3e-3, val_fraction=0.2, patience=10, seed=SEEDS[0])
CNN_EPOCHS = len(cnn.val_scores)
chance = (count_data.y_test == count_data.y_test.mode().values).float().mean().item()
acc2 = np.array([free2[s].score for s in SEEDS])
print(f"K=2 freeform: mean {acc2.mean():.1%}, range {acc2.min():.1%} – {acc2.max():.1%}")
print(f"K=1 {free1.score:.1%} | K=8 {free8.score:.1%}")
print("conventional:", ", ".join(f"K={k} {r.score:.1%}" for k, r in conv_more.items()))
print(f"CNN on 1024 cells: stopped after {CNN_EPOCHS} epochs (best validation accuracy {max(cnn.val_scores):.1%} at "
      f"epoch {int(np.argmax(cnn.val_scores)) + 1}), test {cnn.score:.1%}; validation, last 5 epochs: "
      + ", ".join(f"{v:.3f}" for v in cnn.val_scores[-5:]))

ks_free = [1, 2, 4, 8]
f_mean = [free1.score, acc2.mean(), acc["freeform"].mean(), free8.score]
f_lo = [free1.score, acc2.min(), acc["freeform"].min(), free8.score]
f_hi = [free1.score, acc2.max(), acc["freeform"].max(), free8.score]
ks_conv = [1, 4, 8, 16, 64]
c_acc = [conv_more[1].score, acc["conventional"].mean(), conv_more[8].score, conv_more[16].score,
         conv_more[64].score]
fig, ax = plt.subplots(figsize=(6.4, 4))
ax.fill_between(ks_free, f_lo, f_hi, alpha=0.25, color="tab:blue")
ax.plot(ks_free, f_mean, "o-", color="tab:blue", label="freeform pixels (learned; band: 3 seeds)")
ax.plot(ks_conv, c_acc, "s-", color="tab:orange", label="conventional pixels (K boxes)")
ax.plot([4], [acc["random blobs"].mean()], "v", color="tab:red", ms=9, label="4 random blob masks")
ax.axhline(cnn.score, color="k", ls="--", lw=1, label="CNN on all 1024 cells (early stopping)")
ax.axhline(chance, color="gray", ls=":", lw=1, label="chance")
ax.set_xscale("log", base=2)
ax.set_xticks(ks_conv + [2], [str(k) for k in ks_conv + [2]])
ax.set_xlabel("number of pixels K", fontsize=12)
ax.set_ylabel("test accuracy (count 0-5)", fontsize=12)
ax.set_ylim(0, 1.02)
ax.legend(fontsize=9, loc="lower right")
ax.set_title("Counting people: accuracy against the number of pixels", fontsize=12)
fig.tight_layout()
paperclub.savefig(fig, "accuracy-vs-k")
plt.show()

paperclub.record("freeform_acc_k1", free1.score)
paperclub.record("freeform_acc_k2_mean", acc2.mean())
paperclub.record("freeform_acc_k2_min", acc2.min())
paperclub.record("freeform_acc_k2_max", acc2.max())
paperclub.record("freeform_acc_k8", free8.score)
paperclub.record("freeform_k8_minus_k1", free8.score - free1.score)
paperclub.record("conventional_k8_minus_k1", conv_more[8].score - conv_more[1].score)
paperclub.record("cnn_acc", cnn.score)
paperclub.record("cnn_epochs", CNN_EPOCHS)
paperclub.record("cnn_val_best", max(cnn.val_scores))
paperclub.record("freeform_k8_minus_cnn", free8.score - cnn.score)
paperclub.record("conventional_k8_minus_cnn", conv_more[8].score - cnn.score)
paperclub.record("conventional_acc_k64", conv_more[64].score)
paperclub.record("freeform_k4_min_minus_conventional_k64", acc["freeform"].min() - conv_more[64].score)
paperclub.record("conventional_k16_minus_conventional_k64", conv_more[16].score - conv_more[64].score)

# %% [markdown]
# One freeform pixel cannot tell "one more person" from "slightly brighter light"; two mostly can, but
# how well depends on the seed (the band); from $K = 4$ on, every seed counts well. Conventional pixels
# need many boxes: even 64 stay below four freeform pixels. Learning is what matters: random blob masks with the
# learned masks' open area and smoothness, with the network behind them trained, stay far below.
#
# About the CNN line: it sees the same total light split into 1024 tiny pixels, so each cell is far
# noisier than a big mask, and it is small (three conv layers, width 8). It is trained like the
# authors train, with early stopping: 20 % of the training frames are held out, and training stops
# when their accuracy has not improved for 10 epochs (the best epoch is kept). It is a reference for
# "many small pixels with this light", not the best a full camera could do.
#
# ## Printing the masks: binary masks, a minimum feature size, and misalignment
#
# A grey-level mask needs a printer that can make grey; a binary one (ink or no ink) is cheaper and
# more repeatable. Two ways to get there: threshold the trained grey masks at $1/2$ after training,
# or train with the threshold in the loop (forward: the step; backward: the sigmoid's gradient,
# a straight-through estimator). A printer also has a smallest feature: a single-cell island of ink
# would not survive. With `feature=2` each mask value paints a 2×2 block, so nothing smaller than
# 2×2 cells exists. Finally a mask glued one cell off, or printed soft, must still work: training
# with the masks randomly shifted by up to one cell each batch (`mask_jitter=1`) asks for that.
# After mounting, the camera is calibrated once on unlabelled frames (each reading's mean and scale
# are re-measured; no weight is retrained): `recalibrate`.

# %%
naive = fp.evaluate(ff4.model, count_data.x_test, count_data.y_test, "count", hard=True)
ste = fp.train("count", "freeform", 4, data=count_data, binarize="ste", seed=SEEDS[0])
printable = fp.train("count", "freeform", 4, data=count_data, binarize="ste", feature=2, mask_jitter=1,
                      seed=SEEDS[0])
print(f"grey masks {ff4.score:.1%} | thresholded after training {naive:.1%} | trained binary (straight-through) "
      f"{ste.score:.1%} | binary, 2×2 features, jitter-trained {printable.score:.1%}")
islands = [fp.smallest_feature(m) for m in ste.model.optics.masks().detach()]
islands_printable = [fp.smallest_feature(m) for m in printable.model.optics.masks().detach()]
print(f"smallest island or hole (cells): binary {islands}; printable {islands_printable}")

PERTURB = {"shift right": ((0, 1), 0.0), "shift down": ((1, 0), 0.0), "shift diagonal": ((1, 1), 0.0),
           "blur σ=0.5": ((0, 0), 0.5), "blur σ=1": ((0, 0), 1.0)}


def misaligned(result):
    """Accuracy under each perturbation, after the one-off recalibration on unlabelled frames."""
    out = {}
    for name, (shift, blur) in PERTURB.items():
        model = copy.deepcopy(result.model)
        fp.recalibrate(model, count_data.x_train[:1000], shift, blur, seed=99 + S)
        out[name] = fp.evaluate(model, count_data.x_test, count_data.y_test, "count", shift=shift, blur=blur)
    return out


rob_grey, rob_print = misaligned(ff4), misaligned(printable)
for name in PERTURB:
    print(f"{name:15s} grey masks {rob_grey[name]:6.1%}   printable masks {rob_print[name]:6.1%}")

fig, ax = plt.subplots(2, 4, figsize=(8, 4.2))
masks_print = printable.model.optics.masks().detach().cpu()
for j in range(4):
    ax[0, j].imshow(masks4[j], cmap="gray", vmin=0, vmax=1)
    ax[1, j].imshow(masks_print[j], cmap="gray", vmin=0, vmax=1)
for a in ax.flat:
    a.set_xticks([]); a.set_yticks([])
ax[0, 0].set_ylabel(f"grey\n{ff4.score:.0%}", fontsize=10)
ax[1, 0].set_ylabel(f"printable\n{printable.score:.0%}", fontsize=10)
fig.suptitle("Grey masks, and binary masks with 2×2 features trained for misalignment", fontsize=10)
fig.tight_layout()
paperclub.savefig(fig, "binary-masks")
plt.show()

fig, ax = plt.subplots(figsize=(7, 3.8))
xs = np.arange(len(PERTURB) + 1)
ax.bar(xs - 0.2, [ff4.score] + list(rob_grey.values()), 0.4, label="grey masks")
ax.bar(xs + 0.2, [printable.score] + list(rob_print.values()), 0.4, label="printable, jitter-trained")
ax.set_xticks(xs, ["aligned"] + list(PERTURB), rotation=20, fontsize=10)
ax.set_ylabel("test accuracy")
ax.set_ylim(0, 1)
ax.axhline(chance, color="gray", ls=":", lw=1)
ax.legend(fontsize=10)
ax.set_title("Masks as mounted: one cell off, or blurred", fontsize=12)
fig.tight_layout()
paperclub.savefig(fig, "misalignment")
plt.show()

paperclub.record("acc_grey_k4", ff4.score)
paperclub.record("acc_binary_k4", ste.score)
paperclub.record("acc_thresholded_k4", naive)
paperclub.record("binarize_cost", ff4.score - ste.score)
paperclub.record("thresholding_cost", ff4.score - naive)
paperclub.record("acc_printable_k4", printable.score)
paperclub.record("printable_cost", ff4.score - printable.score)
paperclub.record("smallest_island_binary", min(islands))
paperclub.record("smallest_island_printable", min(islands_printable))
paperclub.record("grey_worst_misaligned_acc", min(rob_grey.values()))
paperclub.record("printable_worst_misaligned_acc", min(rob_print.values()))
paperclub.record("grey_misalignment_drop", ff4.score - min(rob_grey.values()))
paperclub.record("printable_misalignment_drop", printable.score - min(rob_print.values()))

# %% [markdown]
# Binary masks trained with the straight-through estimator cost next to nothing, but they contain
# single-cell islands, and the grey design collapses when a mask moves by one cell: the learned masks
# exploit the fine texture of the floor, which a one-cell shift turns from dark tile to bright grout.
# Printable masks (2×2 features) trained with jitter give up some accuracy when perfectly aligned and
# keep most of it when they are not.
#
# ## What the camera sends while people walk about
#
# Three people wander the room as the light brightens and swings round. Left: the scene (which the
# minimalist camera never records). Middle: its four readings, each divided by the mean of the four
# so that the light cancels (raw readings rise and fall together with the light, which hides
# everything else), then scaled to its range over the clip. Right: the count the network reports,
# one square per person. When two people bump into each other they merge into one blob, a case the
# training frames never show, and the count can drop.

# %%
walk = fp.room_walk(n_frames=40, n_people=3, seed=1 + 10 * S)
with torch.no_grad():
    ff4.model.eval()
    r_walk = ff4.model.readings(walk.to(device())).cpu()
    n_walk = ff4.model(walk.to(device())).argmax(1).cpu()
rel = r_walk / r_walk.mean(1, keepdim=True)
span = (rel - rel.min(0).values) / (rel.max(0).values - rel.min(0).values + 1e-9)


def frame(scene: torch.Tensor, reading: torch.Tensor, count: int) -> np.ndarray:
    img = np.kron(scene.numpy(), np.ones((4, 4)))                      # 128×128 scene
    bars = np.zeros((128, 72))
    for j, v in enumerate(reading.numpy()):
        bars[128 - int(8 + 110 * v):, 4 + 17 * j: 16 + 17 * j] = 0.8      # one bar per pixel
    dots = np.zeros((128, 28))
    for j in range(count):
        dots[120 - 22 * (j + 1): 120 - 22 * j - 6, 6:22] = 1.0            # one square per person
    rgb = np.stack([np.concatenate([img, bars, dots], 1)] * 3, -1)
    rgb[:, 128:200, 2] = np.maximum(rgb[:, 128:200, 2], 0.25)           # tint the readings panel
    return (255 * rgb.clip(0, 1)).astype(np.uint8)


frames = [frame(walk[t], span[t], int(n_walk[t])) for t in range(len(walk))]
paperclub.show_animation(frames, "room-walk", fps=8)
walk_accuracy = paperclub.record("walk_count_accuracy", (n_walk == 3).float().mean().item())
print(f"the count is right on {walk_accuracy:.0%} of the {len(walk)} frames")

# %% [markdown]
# ## The road: speed from pixels read over consecutive frames
#
# The second task follows the paper's traffic camera. A car (dark or light, either lane) crosses a
# 12×40 strip of road at 0.5–3 px per frame; the camera reads its $K$ pixels on 4 consecutive frames
# and the network sees all $4K$ numbers. The target is the speed, scored by mean absolute error.

# %%
road = fp.make_data("speed", n_train=3000, n_test=1000, seed=S)
sp_free = fp.train("speed", "freeform", 4, data=road, epochs=50, seed=S)
sp_conv = fp.train("speed", "conventional", 4, data=road, epochs=50, seed=S)
# control: the same freeform camera trained on a single frame of each clip (no time, no speed)
road_one = fp.Data("speed", road.x_train[:, 0], road.y_train, road.x_test[:, 0], road.y_test)
sp_one = fp.train("speed", "freeform", 4, data=road_one, epochs=30, seed=S)
mean_guess = (road.y_test - road.y_train.mean()).abs().mean().item()
print(f"speed MAE (px/frame): freeform K=4 {sp_free.score:.3f} | conventional K=4 {sp_conv.score:.3f} "
      f"| freeform K=4 from a single frame {sp_one.score:.3f} | always guess the mean {mean_guess:.3f}")

with torch.no_grad():
    pred = sp_free.model(road.x_test.to(device())).cpu()[:, 0]
road_masks = sp_free.model.optics.masks().detach().cpu()
fig = plt.figure(figsize=(10, 3.4))
for j in range(4):
    a = fig.add_subplot(4, 2, 2 * j + 1)
    a.imshow(road_masks[j], cmap="gray", vmin=0, vmax=1)
    a.set_xticks([]); a.set_yticks([])
    a.set_ylabel(f"$M_{j + 1}$", fontsize=8)
    if j == 0:
        a.set_title("masks learned for speed (12×40 road)", fontsize=9)
a = fig.add_subplot(1, 2, 2)
a.scatter(road.y_test, pred, s=3, alpha=0.4)
a.plot([0.5, 3], [0.5, 3], "k--", lw=1)
a.set_xlabel("true speed (px/frame)")
a.set_ylabel("predicted")
a.set_title(f"freeform K=4: MAE {sp_free.score:.2f} px/frame", fontsize=9)
fig.tight_layout()
paperclub.savefig(fig, "speed")
plt.show()

paperclub.record("speed_mae_freeform_k4", sp_free.score)
paperclub.record("speed_mae_conventional_k4", sp_conv.score)
paperclub.record("speed_mae_mean_guess", mean_guess)
paperclub.record("speed_mae_ratio", sp_conv.score / sp_free.score)
paperclub.record("speed_mae_single_frame", sp_one.score)
paperclub.record("speed_mae_ratio_single_frame", sp_conv.score / sp_one.score)

# %% [markdown]
# Four freeform pixels read four times estimate the speed with less error than four boxes (a row
# of four columns along the road; how much less moves with the seed), and both are far better than
# guessing the mean. The learned
# masks are combs of small windows over both lanes: as the car slides past, each reading rises and
# falls with a rhythm set by its speed, and differences of consecutive readings expose that rhythm.
# A box only changes when the car crosses its edge, which a slow car may never do in four frames.
# Read from a single frame, the same learned camera does little better than guessing the mean: the
# speed is in how readings change over time, not in any one picture (the car's start position,
# which depends a little on its speed, is all a single frame can offer).
#
# ## Privacy: can the scene be rebuilt from what the camera sends?
#
# The paper argues that a minimalist camera tends to preserve privacy because its few readings are not
# enough to recover visual detail. We test it with a strong attacker: an MLP decoder trained on
# 1600 scenes paired with the camera's readings, scored on unseen scenes. We compare the four freeform
# readings with a conventional low-resolution camera that counts about as well (8×8 = 64 boxes).
# The error that matters is on the pixels where people are.

# %%
conv64 = conv_more[64]
people = (count_data.x_test - empty_test).abs() > 0.02      # empty_test: the same rooms, nobody in them
recon = {}
for name, cam, dec_seed in [("freeform K=4", ff4.model, S), ("conventional 8×8", conv64.model, S),
                            ("8×8 again, fresh decoder", conv64.model, S + 100)]:
    r_tr = fpp.camera_readings(cam, count_data.x_train, seed=4321 + S)
    r_te = fpp.camera_readings(cam, count_data.x_test, seed=4321 + S)
    recon[name] = fpp.train_decoder(r_tr, count_data.x_train, r_te, count_data.x_test, focus=people, seed=dec_seed)
    print(f"{name:18s} readings {r_tr.shape[1]:3d} | image MSE {recon[name].mse:.5f} "
          f"| MSE on people {recon[name].person_mse:.5f}")
# a reference attacker that knows the light exactly but draws nobody: the empty room itself
empty_err = (((empty_test - count_data.x_test) ** 2) * people).sum().item() / people.sum().item()
print(f"{'the empty room':18s} (knows the light, draws nobody)       | MSE on people {empty_err:.5f}")

show = [0, 1, 3, 5, 6]
fig, ax = plt.subplots(3, len(show), figsize=(7.5, 4.6))
for j, i in enumerate(show):
    ax[0, j].imshow(count_data.x_test[i], cmap="gray", vmin=0, vmax=1)
    ax[1, j].imshow(recon["freeform K=4"].images[i], cmap="gray", vmin=0, vmax=1)
    ax[2, j].imshow(recon["conventional 8×8"].images[i], cmap="gray", vmin=0, vmax=1)
for a in ax.flat:
    a.set_xticks([]); a.set_yticks([])
ax[0, 0].set_ylabel("scene", fontsize=9)
ax[1, 0].set_ylabel("from 4 freeform\nreadings", fontsize=9)
ax[2, 0].set_ylabel("from 8×8\nconventional", fontsize=9)
fig.tight_layout()
paperclub.savefig(fig, "privacy")
plt.show()

ratio = recon["freeform K=4"].person_mse / recon["conventional 8×8"].person_mse
below_empty = 1 - recon["freeform K=4"].person_mse / empty_err
# control: the same decoder fed the test readings in a shuffled order (readings of other rooms)
r_te = fpp.camera_readings(ff4.model, count_data.x_test, seed=4321 + S)
perm = torch.randperm(len(r_te), generator=torch.Generator().manual_seed(S))
with torch.no_grad():
    rec_shuffled = recon["freeform K=4"].decoder(r_te[perm].to(device())).cpu().reshape(count_data.x_test.shape)
shuffled_err = (((rec_shuffled - count_data.x_test) ** 2) * people).sum().item() / people.sum().item()
paperclub.record("recon_person_mse_freeform", recon["freeform K=4"].person_mse)
paperclub.record("recon_person_mse_conventional", recon["conventional 8×8"].person_mse)
paperclub.record("recon_person_mse_empty_room", empty_err)
paperclub.record("recon_error_ratio", ratio)
# control: 64 boxes rebuilt by a second, independently trained decoder, against the first
paperclub.record("recon_error_ratio_64_boxes", recon["8×8 again, fresh decoder"].person_mse
                 / recon["conventional 8×8"].person_mse)
paperclub.record("recon_error_ratio_empty_room", empty_err / recon["conventional 8×8"].person_mse)
paperclub.record("freeform_below_empty_room", below_empty)
paperclub.record("shuffled_below_empty_room", 1 - shuffled_err / empty_err)
print(f"on the people's pixels the decoder's error from 4 freeform readings is {below_empty:.0%} lower than "
      f"drawing the empty room, and {ratio:.1f}× that from the 8×8 camera")

# %% [markdown]
# From the 8×8 image the decoder puts blurry people in the right places. From four freeform readings
# it returns the empty room under the right light with faint smudges where people tend to stand: its
# error on the people's pixels is several times the 8×8 camera's, yet clearly *lower* than drawing the
# empty room, so the readings do leak something about where people are (the printed number is in the
# notes). That is the anonymity argument with its limits. First, the readings are *designed* to carry
# the count, so the count (and whatever correlates with it) leaks by construction; a camera trained for
# a finer task (who sits at which desk) would leak more. Second, this is an empirical result for one
# attacker, not a guarantee: nothing in the training objective penalises what a decoder can recover,
# and a long sequence of readings, or side information, could reveal more than a single frame.
#
# ## Bits per frame
#
# What leaves the camera each frame, against a VGA camera (640×480, 8-bit grey):

# %%
rows = [("minimalist camera, K=4, 12-bit", fp.bits_per_frame(4, 12)),
        ("minimalist camera, K=8, 12-bit (the paper's prototypes)", fp.bits_per_frame(8, 12)),
        ("conventional 8×8, 8-bit", 64 * 8),
        ("VGA 640×480, 8-bit grey", fp.VGA_BITS),
        ("VGA 640×480, 24-bit colour", 3 * fp.VGA_BITS)]
for name, bits in rows:
    print(f"{name:58s} {bits:>10,d} bits   (VGA grey / this = {fp.VGA_BITS / bits:>9,.2f}×)")
saving = paperclub.record("vga_over_k8_bits", fp.VGA_BITS / fp.bits_per_frame(8, 12))

# %% [markdown]
# Eight 12-bit readings are 96 bits: 25,600 times less than one grey VGA frame. That is the budget the
# paper's self-powered prototype lives on: a few photodetectors, a microcontroller and a radio that
# send a handful of bytes per frame can run on the light they harvest from the room.
#
# **Take-aways.** A freeform pixel is a learned linear measurement constrained to be physical
# ($0 \le M \le 1$); a few of them, trained with the task network, separate what the task needs
# (people) from what it does not (the light), which a few boxes, or random blobs of the same area,
# cannot. Light is signal: with shot noise, bigger masks read cleaner. Binary masks cost little, but
# printable ones (no single-cell islands) that survive a one-cell misalignment cost accuracy. The
# readings leak less than an 8×8 image, but not nothing.
