"""Tests for minimal_impls/vit.py: unit checks, the paper's claims on the toy, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import claim
from torch import nn

from minimal_impls import vit


# ---------------------------------------------------------------------------------------------- units

@pytest.mark.parametrize("image_size, patch_size, channels", [(8, 2, 1), (8, 4, 1), (16, 4, 3), (12, 3, 2), (8, 8, 1)])
def test_token_count_and_shapes(image_size: int, patch_size: int, channels: int) -> None:
    cfg = vit.ViTConfig(image_size=image_size, patch_size=patch_size, channels=channels, dim=16, heads=2,
                        mlp_dim=32, num_classes=7)
    n = (image_size // patch_size) ** 2
    assert cfg.num_patches == n
    model = vit.ViT(cfg)
    images = torch.rand(5, channels, image_size, image_size)
    assert vit.patchify(images, patch_size).shape == (5, n, patch_size ** 2 * channels)
    assert model.embed(images).shape == (5, n + 1, 16)          # N patch tokens + the [class] token
    assert model.features(images).shape == (5, 16)
    assert model(images).shape == (5, 7)
    assert model.attention_maps(images).shape == (cfg.depth, 5, 2, n + 1, n + 1)


def test_patchify_cuts_row_major_patches() -> None:
    images = torch.rand(2, 3, 8, 8)
    patches = vit.patchify(images, 4)
    # patch 1 is the top-right 4×4 block; each patch is flattened as (row, col, channel)
    expected = images[:, :, 0:4, 4:8].permute(0, 2, 3, 1).reshape(2, -1)
    torch.testing.assert_close(patches[:, 1], expected)


def _reference_attention(attn: vit.MultiHeadSelfAttention, z: torch.Tensor, causal: bool) -> torch.Tensor:
    """Plain eqs. (5)–(8): per head softmax(q kᵀ / √D_h) v, concatenate, project."""
    b, n, d = z.shape
    h, dh = attn.heads, attn.head_dim
    q, k, v = (z @ attn.qkv.weight.T + attn.qkv.bias).split(d, dim=-1)
    q, k, v = (t.reshape(b, n, h, dh).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(dh)
    if causal:
        scores = scores + torch.full((n, n), float("-inf")).triu(1)
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
    return out @ attn.proj.weight.T + attn.proj.bias


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_plain_softmax_reference(causal: bool) -> None:
    torch.manual_seed(0)
    attn = vit.MultiHeadSelfAttention(dim=24, heads=3, causal=causal)
    z = torch.randn(4, 9, 24)
    torch.testing.assert_close(attn(z), _reference_attention(attn, z, causal), atol=1e-5, rtol=1e-5)
    weights = attn.attention_weights(z)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 3, 9))
    if causal:  # no token may look at a later one
        assert weights.triu(1).abs().max() == 0


def test_without_position_embeddings_vit_is_blind_to_patch_order() -> None:
    """Only E_pos tells the model where a patch is: zero it and shuffling patches changes nothing."""
    torch.manual_seed(0)
    model = vit.ViT(vit.ViTConfig(dim=16, heads=2, mlp_dim=32)).eval()
    images = torch.rand(3, 1, 8, 8)
    perm = torch.randperm(16)
    # shuffle the 2×2 patches of the image itself (the inverse of patchify, for 1 channel)
    blocks = images.reshape(3, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(3, 16, 2, 2)[:, perm]
    shuffled = blocks.reshape(3, 4, 4, 2, 2).permute(0, 1, 3, 2, 4).reshape(3, 1, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(model(images), model(shuffled), atol=1e-4)
        model.pos_embed.zero_()
        torch.testing.assert_close(model(images), model(shuffled), atol=1e-5, rtol=1e-5)


def test_rollout_is_a_distribution_over_tokens() -> None:
    torch.manual_seed(0)
    model = vit.ViT()
    maps = vit.attention_rollout(model, torch.rand(6, 1, 8, 8))
    assert maps.shape == (6, 4, 4)
    assert (maps >= 0).all()
    # the [class] row of a product of row-stochastic matrices sums to 1; the patches get the rest
    assert ((maps.sum((1, 2)) > 0) & (maps.sum((1, 2)) < 1)).all()


def test_position_similarity_and_grid_distance() -> None:
    torch.manual_seed(0)
    model = vit.ViT()
    sim = vit.position_similarity(model).reshape(16, 16)
    torch.testing.assert_close(sim.diagonal(), torch.ones(16))
    torch.testing.assert_close(sim, sim.T)
    dist = vit.grid_distances(4)
    assert dist[0, 1] == 1 and dist[0, 5] == 2 and dist[0, 15] == 6
    assert abs(vit.position_similarity_gap(model)) < 0.1   # random init: no 2-D structure yet


def test_random_shift_moves_each_image_by_at_most_one_pixel() -> None:
    images = torch.zeros(50, 1, 8, 8)
    images[:, 0, 4, 3] = 1.0
    shifted = vit.random_shift(images, 1, torch.Generator().manual_seed(0))
    assert shifted.sum((1, 2, 3)).eq(1).all()                     # the pixel survives, nothing is added
    where = shifted[:, 0].flatten(1).argmax(1)
    rows, cols = where // 8, where % 8
    assert set(rows.tolist()) == {3, 4, 5} and set(cols.tolist()) == {2, 3, 4}


def test_training_is_seeded() -> None:
    x, y, _, _ = vit.digits(0.2, seed=0)
    losses = []
    for _ in range(2):
        torch.manual_seed(3)
        losses.append(vit.train(vit.ViT(), x, y, steps=20, batch_size=32, seed=3))
    assert losses[0] == losses[1]


def test_digits_split_follows_the_seed_and_keeps_validation_apart() -> None:
    x_tr, y_tr, x_val, y_val, x_te, y_te = vit.digits(seed=3, validation=0.2)
    assert len(x_te) == 450 and len(x_val) == 270 and len(x_tr) == 1077
    assert x_tr.shape[1:] == (1, 8, 8) and y_val.shape == (270,)
    rows = lambda x: {tuple(r) for r in x.flatten(1).tolist()}   # noqa: E731
    assert not rows(x_val) & rows(x_te) - rows(x_tr)              # validation images are not test images
    small = vit.digits(0.125, seed=3, validation=0.2)
    assert torch.equal(small[2], x_val) and torch.equal(small[4], x_te)   # same validation/test for every size
    assert not torch.equal(vit.digits(seed=4)[2], vit.digits(seed=3)[2])   # another seed, another split


def test_early_stopping_keeps_the_best_validation_state() -> None:
    x_tr, y_tr, x_val, y_val, _, _ = vit.digits(0.125, seed=0, validation=0.2)
    vit.seed_everything(0)
    model = vit.ViT()
    losses = vit.train(model, x_tr, y_tr, steps=600, batch_size=32, seed=0, val=(x_val, y_val), eval_every=25,
                       patience=2)
    assert len(losses) < 600                                      # stopped early on 134 images
    best = vit.accuracy(model, x_val, y_val)
    assert best > 0.5


def test_shift_augmented_holds_all_nine_one_pixel_shifts() -> None:
    images = torch.zeros(2, 1, 8, 8)
    images[:, 0, 4, 3] = 1.0
    out, labels = vit.shift_augmented(images, torch.tensor([5, 7]))
    assert out.shape == (18, 1, 8, 8) and labels.tolist() == [5, 7] * 9
    assert torch.equal(out[8:10], images)                         # the middle copy is the unshifted image
    where = out[::2, 0].flatten(1).argmax(1)
    assert sorted(zip((where // 8).tolist(), (where % 8).tolist())) == [(r, c) for r in (3, 4, 5) for c in (2, 3, 4)]


def test_cnn_baseline_has_a_similar_parameter_count() -> None:
    n_vit, n_cnn = vit.count_parameters(vit.ViT()), vit.count_parameters(vit.SmallCNN())
    assert abs(n_vit - n_cnn) / n_vit < 0.05


# -------------------------------------------------------------------- the paper's structural checks
# Each check encodes one equation of Sec. 3.1 as a behaviour, so that it can fail: the unit tests
# above pass for a post-norm block, a mean-pooled read-out or a missing final LayerNorm.

def _silence(block: vit.Block) -> None:
    """Zero the last layer of both residual branches: MSA(·) = MLP(·) = 0."""
    with torch.no_grad():
        for layer in (block.attn.proj, block.mlp[-1]):
            layer.weight.zero_()
            layer.bias.zero_()


def eq2_3_identity_path(block_cls: type[vit.Block] = vit.Block) -> bool:
    """Eqs. (2)–(3): z' = MSA(LN(z)) + z, z_out = MLP(LN(z')) + z'. With both branches silenced the
    block must hand its input on unchanged (the residual stream is never normalised)."""
    torch.manual_seed(0)
    block = block_cls(16, 2, 32)
    _silence(block)
    z = 3 * torch.randn(3, 5, 16) + 1
    with torch.no_grad():
        return torch.allclose(block(z), z, atol=1e-5)


def eq1_4_reads_the_class_token(model: vit.ViT) -> bool:
    """Eqs. (1) and (4): y = LN(z_L^0). With every block silenced, z_L^0 = x_class + E_pos^0, so the
    representation must equal LN(x_class + E_pos^0) for every image, and be layer-normalised."""
    for block in model.blocks:
        _silence(block)
    d = model.config.dim
    images = torch.rand(4, model.config.channels, model.config.image_size, model.config.image_size)
    with torch.no_grad():
        y = model.features(images)
        expected = F.layer_norm(model.cls_token[0, 0] + model.pos_embed[0, 0], (d,))
    return torch.allclose(y, expected.expand_as(y), atol=1e-5)


def features_are_layer_normalised(model: vit.ViT) -> bool:
    """Eq. (4) at initialisation (LN gain 1, bias 0): each y has mean 0 and variance 1 over D."""
    torch.manual_seed(1)
    with torch.no_grad():
        y = model.features(torch.rand(6, model.config.channels, model.config.image_size, model.config.image_size))
    return bool(torch.allclose(y.mean(-1), torch.zeros(6), atol=1e-4)
                and torch.allclose(y.var(-1, unbiased=False), torch.ones(6), atol=1e-2))


def patches_are_image_blocks(patchify=vit.patchify) -> bool:
    """Eq. (1): token i is the i-th P×P block of the image, row-major, flattened as (row, col, channel)."""
    images = torch.rand(2, 3, 8, 8)
    expected = torch.stack([images[:, :, r:r + 4, c:c + 4].permute(0, 2, 3, 1).reshape(2, -1)
                            for r in (0, 4) for c in (0, 4)], dim=1)
    return torch.equal(patchify(images, 4), expected)


def sees_patch_order(model: vit.ViT) -> bool:
    """Eq. (1)'s E_pos is the only thing that tells the model where a patch is: swapping two
    patches of an image must change the output."""
    images = torch.rand(3, 1, 8, 8)
    swapped = images.clone()
    swapped[:, :, 0:2, 0:2], swapped[:, :, 6:8, 6:8] = images[:, :, 6:8, 6:8], images[:, :, 0:2, 0:2]
    with torch.no_grad():
        return not torch.allclose(model(images), model(swapped), atol=1e-5)


def test_the_structural_checks_pass_on_the_implementation() -> None:
    torch.manual_seed(0)
    assert eq2_3_identity_path(vit.Block)
    assert eq1_4_reads_the_class_token(vit.ViT())
    assert features_are_layer_normalised(vit.ViT())
    assert patches_are_image_blocks()
    assert sees_patch_order(vit.ViT())


# ---------------------------------------------------------------------------------- common mistakes

class PostNormBlock(vit.Block):
    """The original Transformer's order: LN after the residual add (ViT uses pre-norm, eqs. 2–3)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self.norm1(z + self.attn(z))
        return self.norm2(z + self.mlp(z))


class MeanPoolViT(vit.ViT):
    """Global average pooling of the patch tokens instead of the [class] token: App. D.3 (Fig. 9) finds
    the two read-outs about equally good (with different learning rates), so this is another model, not
    a mistake. Eq. (4), which this implementation follows, reads z_L^0."""

    def features(self, images: torch.Tensor) -> torch.Tensor:
        z = self.embed(images)
        for block in self.blocks:
            z = block(z)
        return self.norm(z[:, 1:].mean(dim=1))


def test_readout_follows_eq4_not_global_average_pooling() -> None:
    """A fidelity check, not a common mistake: our read-out is eq. (4)'s [class] token, and the check
    tells it apart from the equally valid mean-pooled read-out of App. D.3."""
    torch.manual_seed(0)
    assert eq1_4_reads_the_class_token(vit.ViT())
    torch.manual_seed(0)
    assert not eq1_4_reads_the_class_token(MeanPoolViT())


def rows_stay_rows(resize) -> bool:
    """Sec. 3.2 interpolates E_pos "according to their location in the original image": a field that
    varies only down the rows of the 4×4 grid must, resized to 6×6, still be constant along each row,
    and the [class] slot must be passed on untouched."""
    g, d = 4, 3
    rows = torch.arange(g, dtype=torch.float32).repeat_interleave(g)           # row index of each patch
    pos = torch.cat([torch.full((1, d), 7.0), rows[:, None] * torch.ones(1, d)])[None]   # (1, 1 + 16, 3)
    out = resize(pos, 6)
    grid = out[0, 1:, 0].reshape(6, 6)
    return (out.shape == (1, 37, d) and torch.equal(out[0, 0], pos[0, 0])
            and torch.allclose(grid, grid[:, :1].expand(6, 6)) and bool((grid[1:, 0] >= grid[:-1, 0]).all()))


def test_mistake_interpolating_position_embeddings_in_1d() -> None:
    assert rows_stay_rows(lambda pos, n: vit.resize_pos_embed(pos, n, "2d"))
    assert not rows_stay_rows(lambda pos, n: vit.resize_pos_embed(pos, n, "1d"))


def test_mistake_post_norm() -> None:
    assert eq2_3_identity_path(vit.Block)
    assert not eq2_3_identity_path(PostNormBlock)


def test_mistake_no_final_layernorm() -> None:
    torch.manual_seed(0)
    assert features_are_layer_normalised(vit.ViT())
    torch.manual_seed(0)
    model = vit.ViT()
    model.norm = nn.Identity()                      # y = z_L^0 instead of LN(z_L^0)
    assert not features_are_layer_normalised(model)
    assert not eq1_4_reads_the_class_token(model)


def test_mistake_patchify_by_plain_reshape() -> None:
    """Reshaping (B, C, H, W) straight to (B, N, P²C) cuts rows of pixels, not P×P patches."""
    def naive(images: torch.Tensor, patch_size: int) -> torch.Tensor:
        b, c, h, w = images.shape
        return images.reshape(b, (h // patch_size) * (w // patch_size), patch_size ** 2 * c)

    assert patches_are_image_blocks(vit.patchify)
    assert not patches_are_image_blocks(naive)


def test_mistake_no_position_embedding() -> None:
    torch.manual_seed(0)
    model = vit.ViT().eval()
    assert sees_patch_order(model)
    with torch.no_grad():
        model.pos_embed.zero_()                     # or forgetting to add E_pos in eq. (1)
    assert not sees_patch_order(model)


# ----------------------------------------------------------------------------------------- claims
# At the notebook's settings and seed 0: claim() applies the front matter's thresholds, and each claim's
# control must miss them. Runs that only a control needs (a second ViT) are in the slow tier.

MAX_STEPS = 1500   # the notebook's ceiling: every run is early-stopped on the validation split


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, ...]:
    return vit.digits(seed=0, validation=0.2)


@pytest.fixture(scope="module")
def full_run() -> vit.RunResult:
    return vit.run("vit", train_fraction=1.0, steps=MAX_STEPS, seed=0, validation=0.2)


def test_claim_vit_learns_the_task(full_run: vit.RunResult) -> None:
    assert claim("vit", "vit_test_accuracy").holds(full_run.test_accuracy)


@pytest.mark.slow
def test_claim_vit_learns_the_task_control_without_position_embeddings(data) -> None:
    x_tr, y_tr, x_val, y_val, x_te, y_te = data
    vit.seed_everything(0)
    model = vit.ViT()
    with torch.no_grad():
        model.pos_embed.zero_()
    model.pos_embed.requires_grad_(False)
    vit.train(model, x_tr, y_tr, steps=MAX_STEPS, seed=0, val=(x_val, y_val))
    vit_no_pos_accuracy = vit.accuracy(model, x_te, y_te)
    assert not claim("vit", "vit_test_accuracy").holds(vit_no_pos_accuracy)


def test_the_simple_baselines_match_or_beat_the_toy_vit(full_run: vit.RunResult) -> None:
    """What the notes say plainly: on the same split, 1-NN on raw pixels wins and logistic regression is
    close; shift augmentation only hurts logistic regression, so the unaugmented fit is the baseline."""
    logreg = vit.pixel_baseline_accuracy("logreg", seed=0, validation=0.2)
    assert vit.pixel_baseline_accuracy("1nn", seed=0, validation=0.2) > full_run.test_accuracy
    assert logreg > full_run.test_accuracy - 0.02
    assert vit.pixel_baseline_accuracy("logreg", seed=0, validation=0.2, augment=True) < logreg


def test_claim_position_embeddings_learn_the_2d_grid(full_run: vit.RunResult) -> None:
    assert claim("vit", "position_similarity_gap").holds(vit.position_similarity_gap(full_run.model))


@pytest.mark.slow
def test_claim_position_embeddings_control_without_shifts(data) -> None:
    x_tr, y_tr, x_val, y_val, _, _ = data
    vit.seed_everything(0)
    model = vit.ViT()
    vit.train(model, x_tr, y_tr, steps=MAX_STEPS, seed=0, val=(x_val, y_val), shift_prob=0.0)
    position_similarity_gap_no_shift = vit.position_similarity_gap(model)
    assert not claim("vit", "position_similarity_gap").holds(position_similarity_gap_no_shift)


def test_observation_no_head_is_local(full_run: vit.RunResult, data) -> None:
    """The notes' observation (no claim): by a locality measure that can fail, the share of attention on
    the 4 grid neighbours, the toy's heads are barely more local than uniform attention (3/16)."""
    mass = vit.neighbour_attention_mass(full_run.model, data[4])
    assert mass.max().item() < 0.35 and mass.mean().item() < 0.3
    assert vit.uniform_neighbour_mass(4) == pytest.approx(3 / 16)


def _finetune(model: vit.ViT, mode: str, data) -> float:
    x_tr, y_tr, _, _, x_te, y_te = data
    vit.seed_everything(0)
    hi = vit.at_resolution(model, 12, mode)
    vit.train(hi, vit.upsample(x_tr, 12), y_tr, steps=100, batch_size=32, lr=1e-3, warmup=10, seed=0)
    return vit.accuracy(hi, vit.upsample(x_te, 12), y_te)


def test_claim_finetuning_at_higher_resolution(full_run: vit.RunResult, data) -> None:
    c = claim("vit", "finetune_2d_accuracy")
    finetune_2d_accuracy = _finetune(full_run.model, "2d", data)
    finetune_reset_accuracy = _finetune(full_run.model, "reset", data)
    assert c.holds(finetune_2d_accuracy)
    assert not c.holds(finetune_reset_accuracy)


@pytest.mark.slow
def test_claim_with_little_data_the_vit_loses_even_to_logistic_regression() -> None:
    """The notebook's smallest slice (12.5 % of the training images), each network early-stopped."""
    acc = vit.data_scaling((0.125,), (0,), steps=MAX_STEPS)
    logreg_minus_vit_small = acc["logreg", 0.125][0] - acc["vit", 0.125][0]
    logreg_minus_cnn_small = acc["logreg", 0.125][0] - acc["cnn", 0.125][0]
    c = claim("vit", "logreg_minus_vit_small")
    assert c.holds(logreg_minus_vit_small)
    assert not c.holds(logreg_minus_cnn_small)


def test_resize_pos_embed_shapes_and_modes() -> None:
    torch.manual_seed(0)
    model = vit.ViT()
    for mode in ("2d", "1d", "reset"):
        hi = vit.at_resolution(model, 12, mode)
        assert hi.pos_embed.shape == (1, 37, 32) and hi.config.grid == 6
        torch.testing.assert_close(hi.pos_embed[0, 0], model.pos_embed[0, 0])          # [class] slot kept
        torch.testing.assert_close(hi.patch_embed.weight, model.patch_embed.weight)    # everything else reused
        assert hi(torch.rand(2, 1, 12, 12)).shape == (2, 10)
    same = vit.resize_pos_embed(model.pos_embed.detach(), 4, "2d")
    torch.testing.assert_close(same, model.pos_embed.detach())                         # same size: unchanged
    assert vit.upsample(torch.rand(3, 1, 8, 8), 12).shape == (3, 1, 12, 12)


def test_neighbour_mass_of_self_uniform_and_local_attention(monkeypatch) -> None:
    """A check of the measure itself: it can fail. Attention to oneself gives 0, uniform attention 3/16
    on a 4×4 grid, attention spread over the 4-neighbours 1."""
    model = vit.ViT()
    n = model.config.num_patches + 1
    images = torch.rand(3, 1, 8, 8)
    monkeypatch.setattr(vit.ViT, "attention_maps", lambda self, x: torch.eye(n).expand(2, len(x), 2, n, n))
    assert vit.neighbour_attention_mass(model, images).abs().max() < 1e-6
    monkeypatch.setattr(vit.ViT, "attention_maps", lambda self, x: torch.ones(2, len(x), 2, n, n) / n)
    torch.testing.assert_close(vit.neighbour_attention_mass(model, images), torch.full((2, 2), 3 / 16))
    assert vit.uniform_neighbour_mass(4) == pytest.approx(3 / 16)
    local = torch.zeros(n, n)
    local[1:, 1:] = (vit.grid_distances(4) == 1).float()
    local[0, 0] = 1.0
    monkeypatch.setattr(vit.ViT, "attention_maps", lambda self, x: local.expand(2, len(x), 2, n, n))
    torch.testing.assert_close(vit.neighbour_attention_mass(model, images), torch.ones(2, 2))


def test_embedding_filters_and_attention_distance_shapes() -> None:
    torch.manual_seed(0)
    model = vit.ViT()
    components, explained = vit.embedding_filters(model)
    assert components.shape == (4, 2, 2, 1)
    torch.testing.assert_close(explained.sum(), torch.tensor(1.0))
    torch.testing.assert_close(components.flatten(1) @ components.flatten(1).T, torch.eye(4), atol=1e-5, rtol=0)
    distance = vit.mean_attention_distance(model, torch.rand(5, 1, 8, 8))
    assert distance.shape == (2, 2) and (distance > 0).all() and (distance < 2 * 3 * 2 ** 0.5).all()


def test_attention_distance_of_self_and_uniform_attention(monkeypatch) -> None:
    """A check of the measure itself: attention to one's own patch is at distance 0; uniform attention
    over the 4×4 grid of 2×2 patches is at the mean distance between patch centres."""
    model = vit.ViT()
    n = model.config.num_patches + 1
    monkeypatch.setattr(vit.ViT, "attention_maps", lambda self, images: torch.eye(n).expand(2, len(images), 2, n, n))
    assert vit.mean_attention_distance(model, torch.rand(3, 1, 8, 8)).abs().max() < 1e-6
    monkeypatch.setattr(vit.ViT, "attention_maps", lambda self, images: torch.ones(2, len(images), 2, n, n) / n)
    cells = torch.stack(torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")).reshape(2, -1).T
    expected = (2 * torch.cdist(cells, cells)).mean()
    torch.testing.assert_close(vit.mean_attention_distance(model, torch.rand(3, 1, 8, 8)), expected.expand(2, 2))


# -------------------------------------------------------------------------------------- bad input

def test_image_size_not_divisible_by_patch_size() -> None:
    with pytest.raises(ValueError, match="patch_size: expected a divisor of image_size=8, got 3"):
        vit.ViTConfig(image_size=8, patch_size=3)
    with pytest.raises(ValueError, match="divisible by patch_size=3"):
        vit.patchify(torch.rand(1, 1, 8, 8), 3)


@pytest.mark.parametrize("shape", [(2, 8, 8), (2, 3, 8, 8), (2, 1, 16, 16)])
def test_wrong_image_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"images: expected shape \(N, 1, 8, 8\)"):
        vit.ViT()(torch.rand(*shape))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="heads: expected a divisor of dim=32, got 5"):
        vit.ViTConfig(heads=5)
    with pytest.raises(ValueError, match="arch: expected one of 'vit', 'cnn', got 'resnet'"):
        vit.run("resnet")
    with pytest.raises(ValueError, match="train_fraction"):
        vit.digits(0.0)
    with pytest.raises(ValueError, match="validation"):
        vit.digits(validation=0.9)
    with pytest.raises(ValueError, match="mode: expected one of"):
        vit.resize_pos_embed(torch.zeros(1, 17, 4), 6, "bicubic-3d")
    with pytest.raises(ValueError, match="pos_embed"):
        vit.resize_pos_embed(torch.zeros(1, 16, 4), 6)
    with pytest.raises(ValueError, match="far"):
        vit.position_similarity_gap(vit.ViT(), far=1)
    with pytest.raises(ValueError, match="shift_prob"):
        vit.train(vit.ViT(), torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), shift_prob=2.0)
    with pytest.raises(ValueError, match=r"z: expected shape \(B, N, 32\)"):
        vit.MultiHeadSelfAttention(32, 2)(torch.rand(2, 5, 16))
