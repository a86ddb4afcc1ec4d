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
    """Reads out the mean of the patch tokens and ignores [class] (eq. 4 reads z_L^0)."""

    def features(self, images: torch.Tensor) -> torch.Tensor:
        z = self.embed(images)
        for block in self.blocks:
            z = block(z)
        return self.norm(z[:, 1:].mean(dim=1))


def test_mistake_post_norm() -> None:
    assert eq2_3_identity_path(vit.Block)
    assert not eq2_3_identity_path(PostNormBlock)


def test_mistake_mean_pool_readout() -> None:
    torch.manual_seed(0)
    assert eq1_4_reads_the_class_token(vit.ViT())
    torch.manual_seed(0)
    assert not eq1_4_reads_the_class_token(MeanPoolViT())


def test_mistake_no_final_layernorm() -> None:
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

    assert not patches_are_image_blocks(naive)


def test_mistake_no_position_embedding() -> None:
    torch.manual_seed(0)
    model = vit.ViT().eval()
    assert sees_patch_order(model)
    with torch.no_grad():
        model.pos_embed.zero_()                     # or forgetting to add E_pos in eq. (1)
    assert not sees_patch_order(model)


# ----------------------------------------------------------------------------------------- claims
# The notebook's own run (600 steps, seed 0): claim() applies the front matter's thresholds, and each
# claim's control must miss them. The data-scaling curve (15 more runs) is in the slow tier.

@pytest.fixture(scope="module")
def full_run() -> vit.RunResult:
    return vit.run("vit", train_fraction=1.0, steps=600, seed=0)


@pytest.fixture(scope="module")
def untrained() -> vit.ViT:
    torch.manual_seed(0)
    return vit.ViT()


def test_claim_vit_learns_the_task(full_run: vit.RunResult, untrained: vit.ViT) -> None:
    c = claim("vit", "vit_test_accuracy")
    _, _, x_te, y_te = vit.digits()
    assert c.holds(full_run.test_accuracy)
    assert not c.holds(vit.accuracy(untrained, x_te, y_te))


def test_the_simple_baselines_beat_the_toy_vit(full_run: vit.RunResult) -> None:
    """What the notes say plainly: on the same split, logistic regression and 1-NN on raw pixels win."""
    assert vit.pixel_baseline_accuracy("logreg") > full_run.test_accuracy
    assert vit.pixel_baseline_accuracy("1nn") > full_run.test_accuracy


def test_claim_position_embeddings_learn_the_2d_grid(full_run: vit.RunResult, untrained: vit.ViT) -> None:
    c = claim("vit", "position_similarity_gap")
    assert c.holds(vit.position_similarity_gap(full_run.model))
    assert not c.holds(vit.position_similarity_gap(untrained))


def test_claim_some_heads_attend_locally(full_run: vit.RunResult, untrained: vit.ViT) -> None:
    c = claim("vit", "attention_distance_min")
    _, _, x_te, _ = vit.digits()
    assert c.holds(vit.mean_attention_distance(full_run.model, x_te).min().item())
    assert not c.holds(vit.mean_attention_distance(untrained, x_te).min().item())


@pytest.mark.slow
def test_claims_of_the_data_scaling_curve() -> None:
    """The notebook's curve (same budget for every run): the CNN leads with little data, and its lead
    shrinks more than its lead over logistic regression does."""
    acc = vit.data_scaling(steps=450, batch_size=32)
    mean = {key: float(np.mean(v)) for key, v in acc.items()}
    lead = {f: mean["cnn", f] - mean["vit", f] for f in (0.1, 1.0)}
    lead_logreg = {f: mean["cnn", f] - mean["logreg", f] for f in (0.1, 1.0)}
    small_data = claim("vit", "cnn_lead_10pct")
    assert small_data.holds(lead[0.1]) and not small_data.holds(lead_logreg[0.1])
    shrinks = claim("vit", "cnn_lead_shrinkage")
    assert shrinks.holds(lead[0.1] - lead[1.0])
    assert not shrinks.holds(lead_logreg[0.1] - lead_logreg[1.0])


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
    with pytest.raises(ValueError, match="far"):
        vit.position_similarity_gap(vit.ViT(), far=1)
    with pytest.raises(ValueError, match="shift_prob"):
        vit.train(vit.ViT(), torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), shift_prob=2.0)
    with pytest.raises(ValueError, match=r"z: expected shape \(B, N, 32\)"):
        vit.MultiHeadSelfAttention(32, 2)(torch.rand(2, 5, 16))
