"""Tests for minimal_impls/feature_visualization.py: unit checks, claims, common mistakes, bad input.

The claims are checked by ``pipeline(seed)``, the notebook's computations without its figures, at seeds 0-4.
Claims are checked with the thresholds of papers/feature-visualization.md (``conftest.claim``).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import claim
from scipy.stats import spearmanr

from minimal_impls import feature_visualization as fv
from minimal_impls.common import load_digits_split

SLUG = "feature-visualization"


@pytest.fixture(scope="module")
def trained() -> fv.TrainResult:
    return fv.train()


@pytest.fixture(scope="module")
def detector(trained: fv.TrainResult) -> fv.Detector:
    return fv.train_detector(trained.x_train, fv.visualization_pool(trained.model, trained.x_train))


@pytest.fixture(scope="module")
def fv_images(trained: fv.TrainResult) -> torch.Tensor:
    """Short visualizations of logits 3 (first), 1 and 7 of the trained network."""
    return fv.visualize(trained.model, "logits", [3, 1, 7], steps=96, seed=1).images


def pipeline(seed: int) -> dict[str, float]:
    """Every claim metric and control of the notebook, at its own settings and a given seed (what
    ``paperclub sweep`` runs; the notebook adds only figures, the recipe ablation and hidden units)."""
    S = seed
    tr = fv.train(seed=S)
    model, x_all = tr.model, torch.cat([tr.x_train, tr.x_test])
    _, _, x8_test, y8_test = load_digits_split(seed=S)
    picture, m = fv.planted_picture(), {}
    det = fv.train_detector(tr.x_train, fv.visualization_pool(model, tr.x_train, pictures=4, seed=100 + S), seed=S)
    scale = fv.natural_max(model, "logits", x_all)
    circuit = fv.FoolingCircuitCNN(model, "logits", 3, picture, tr.x_train, detector=det)
    subspace = fv.FoolingCircuitCNN(model, "logits", 3, picture, tr.x_train)
    never = fv.FoolingCircuitCNN(model, "logits", 3, picture, tr.x_train, detector=fv.never_firing_detector())
    vis = {name: fv.visualize(net, "logits", [3, 3], steps=192, scale=scale[[3, 3]], seed=1 + S, snapshot_every=8)
           for name, net in (("original", model), ("circuit", circuit))}
    for name in vis:
        m[f"{name}_plant_correlation"] = fv.correlation(vis[name].images, picture).mean().item()
    frames = torch.cat(vis["circuit"].frames)
    with torch.no_grad():
        for name, net in (("circuit", circuit), ("never_fires", never)):
            unchanged = fv.max_output_difference(model, net, tr.x_test) == 0.0
            m[f"{name}_awake_on_fv_silent_on_digits"] = net.detector(frames).mean().item() * unchanged
    drops = {"trained_e": [], "subspace_e": []}
    for kind in [k for k in fv.UNSEEN if k != "contrast"]:
        xv = fv.natural_variant(x8_test, kind, seed=S)
        base = fv.accuracy(model, xv, y8_test)
        drops["trained_e"].append(base - fv.accuracy(circuit, xv, y8_test))
        drops["subspace_e"].append(base - fv.accuracy(subspace, xv, y8_test))
    m["trained_e_unseen_accuracy_drop"], m["subspace_e_unseen_accuracy_drop"] = max(drops["trained_e"]), max(drops["subspace_e"])
    # visualizations of the ten class logits, and their headroom over natural digits and over prototypes
    classes = torch.arange(10)
    fvc = fv.visualize(model, "logits", classes.tolist(), steps=192, scale=scale, seed=S)
    m["fv_activation_ratio_min"] = (fvc.activation / scale).min().item()
    protos = torch.cat([fv.exemplar_prototype(model, "logits", c, x_all, k=10) for c in range(10)])
    m["fv_prototype_ratio_max"] = (fv.natural_activations(model, "logits", protos)[classes, classes] / scale).max().item()
    # the silent unit: held-out firing rate over 15 targets, the horse sweep, the authors' positive control
    others = [c for c in range(10) if c != 3]
    targets = [picture, fv.planted_picture("camera"), *(fv.random_picture(5000 + 10 * S + j) for j in range(4)),
               *(fvc.images[c:c + 1] for c in others)]
    with torch.no_grad():
        h_test = model.activations(tr.x_test)["fc1"]
        rates = [(fv.SilentUnitCNN(model, 3, pic, tr.x_train, strength=lam).silent(h_test) > 0).float().mean().item()
                 for pic in targets for lam in (1.0, 2.0, 4.0, 8.0)]
        mean_bias = fv.SilentUnitCNN(model, 3, picture, tr.x_train, strength=1.0, bias_at="mean")
        m["silent_bias_mean_fires"] = (mean_bias.silent(h_test) > 0).float().mean().item()
    m["silent_heldout_fire_rate"] = float(np.mean(rates))
    sweep = {lam: fv.visualize(fv.SilentUnitCNN(model, 3, picture, tr.x_train, strength=lam), "logits", [3],
                               steps=96, scale=scale[[3]], seed=1 + S).images for lam in (0.0, 1.0, 2.0, 4.0, 8.0)}
    m["silent_plant_corr_max"] = max(fv.correlation(v, picture).item() for v in sweep.values())
    reference = fv.visualize(model, "logits", [3], steps=96, scale=scale[[3]], seed=1 + S).images
    toward = [fv.correlation(fv.visualize(fv.SilentUnitCNN(model, 3, fvc.images[c:c + 1], tr.x_train, strength=3.0),
                                          "logits", [3], steps=96, scale=scale[[3]], seed=1 + S).images,
                             fvc.images[c]).item() for c in others]
    original = [fv.correlation(reference, fvc.images[c]).item() for c in others]
    unsteered = [fv.correlation(sweep[0.0], fvc.images[c]).item() for c in others]   # λ = 0: no Δw
    m["silent_fv_target_gain"] = float(np.mean(toward) - np.mean(original))
    m["silent_lambda0_target_gain"] = float(np.mean(unsteered) - np.mean(original))
    # the sanity check, with held-out natural digits as the control
    sc, nat = fv.sanity_checks(model, [(fvc.images, classes), (tr.x_train[:100], tr.y_train[:100])],
                               tr.x_test, tr.y_test)
    m["sanity_naturalness_conv"] = float(np.mean(sc.naturalness[:3]))
    m["sanity_naturalness_conv_natural"] = float(np.mean(nat.naturalness[:3]))
    m["sanity_naturalness_logits"] = sc.naturalness[-1]
    m["sanity_other_class_logits"] = sc.fv_other[-1] / sc.natural_same[-1]
    return m


@pytest.fixture(scope="module")
def result() -> dict[str, float]:
    """The notebook's claim metrics at seed 0 (slow tests only)."""
    return pipeline(0)


@pytest.fixture(scope="module")
def digits8() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return load_digits_split(seed=0)


def house() -> torch.Tensor:
    """A picture no notebook uses: a house with a door and two windows, white on black."""
    img = torch.zeros(32, 32)
    img[16:28, 8:24] = 1                       # walls
    for r in range(8):                         # roof
        img[8 + r, 15 - r: 17 + r] = 1
    img[21:28, 14:18] = 0                      # door
    img[18:21, 10:13] = 0
    img[18:21, 19:22] = 0                      # windows
    return img.view(1, 1, 32, 32)


@pytest.fixture(scope="module")
def model(trained: fv.TrainResult) -> fv.DigitsCNN:
    return trained.model


@pytest.fixture(scope="module")
def x_natural(trained: fv.TrainResult) -> torch.Tensor:
    return torch.cat([trained.x_train, trained.x_test])


@pytest.fixture(scope="module")
def picture() -> torch.Tensor:
    return fv.planted_picture()


# --- data and network -------------------------------------------------------------------------

def test_upsampled_digits_lie_exactly_in_the_natural_subspace(x_natural: torch.Tensor) -> None:
    q = fv.natural_basis()
    assert q.shape == (fv.SIZE ** 2, 64)
    torch.testing.assert_close(q.T @ q, torch.eye(64), atol=1e-5, rtol=0)
    flat = x_natural.reshape(len(x_natural), -1)
    residual = (flat - (flat @ q) @ q.T).abs().mean(1)
    assert residual.max() < 1e-5                         # float error only
    noise = torch.rand(16, fv.SIZE ** 2, generator=torch.Generator().manual_seed(0))
    assert ((noise - (noise @ q) @ q.T).abs().mean(1) > 0.1).all()


def test_network_shapes_and_accuracy(trained: fv.TrainResult, model: fv.DigitsCNN) -> None:
    acts = model.activations(torch.zeros(2, 1, fv.SIZE, fv.SIZE))
    assert list(acts) == list(fv.LAYERS)
    assert acts["conv1"].shape == (2, 8, 32, 32) and acts["conv3"].shape == (2, 32, 8, 8)
    assert acts["fc1"].shape == (2, 32) and acts["logits"].shape == (2, 10)
    assert [model.units(layer) for layer in fv.LAYERS] == [8, 16, 32, 32, 10]
    assert trained.test_accuracy >= 0.93


def test_unit_activation_is_the_channel_mean_for_conv_layers(model: fv.DigitsCNN, x_natural: torch.Tensor) -> None:
    acts = model.activations(x_natural[:4])
    got = fv.unit_activation(acts, "conv2", torch.tensor([0, 3, 5, 15]))
    want = acts["conv2"].mean((2, 3))[torch.arange(4), torch.tensor([0, 3, 5, 15])]
    torch.testing.assert_close(got, want)


# --- feature visualization (Olah et al.) ----------------------------------------------------

def test_fourier_scale_is_one_over_frequency_clamped_at_dc() -> None:
    s = fv.fourier_scale()
    assert s.shape == (fv.SIZE, fv.SIZE // 2 + 1)
    assert s[0, 0] == pytest.approx(fv.SIZE)            # |f| clamped at 1/size
    assert s[0, 1] == pytest.approx(fv.SIZE)            # the lowest non-zero frequency is 1/size
    assert s[0, 16] == pytest.approx(2.0)               # Nyquist, |f| = 1/2


def test_image_parameterisations_give_valid_images() -> None:
    for param in ("fourier", "pixel"):
        x = fv.ImageParam(3, param, torch.Generator().manual_seed(0))()
        assert x.shape == (3, 1, fv.SIZE, fv.SIZE)
        assert 0.0 < x.min() and x.max() < 1.0
        assert (x - 0.5).abs().max() < 0.05              # starts near grey: small random init


def test_regularisers_are_differentiable_and_bounded() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, fv.SIZE, fv.SIZE, generator=g, requires_grad=True)
    tv = fv.total_variation(x)
    out = fv.random_transform(x, g)
    (tv.sum() + out.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert ((tv >= 0) & (tv <= 2)).all()
    assert out.min() >= 0 and out.max() <= 1              # a convex mix of pixels and black
    assert fv.total_variation(torch.full((1, 1, fv.SIZE, fv.SIZE), 0.7)).item() == 0.0
    checker = (torch.arange(fv.SIZE).view(-1, 1) + torch.arange(fv.SIZE)) % 2
    assert fv.total_variation(checker.float().view(1, 1, fv.SIZE, fv.SIZE)).item() == pytest.approx(2.0)


def test_identity_transform_returns_the_image() -> None:
    x = torch.rand(2, 1, fv.SIZE, fv.SIZE, generator=torch.Generator().manual_seed(1))
    same = fv.random_transform(x, torch.Generator(), max_shift=0, scale=(1.0, 1.0), max_degrees=0.0)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)


def test_optimiser_increases_the_target_activation(model: fv.DigitsCNN) -> None:
    for layer, unit in (("conv3", 1), ("fc1", 2), ("logits", 7)):
        v = fv.visualize(model, layer, [unit], steps=48)
        with torch.no_grad():
            start = fv.unit_activation(model.activations(torch.full((1, 1, 32, 32), 0.5)), layer, torch.tensor([unit]))
        assert v.activation.item() > start.item() + 1e-3, layer
        assert v.trace[-8:].mean() > v.trace[:8].mean(), layer


def test_visualize_is_deterministic(model: fv.DigitsCNN) -> None:
    a = fv.visualize(model, "logits", [1, 2], steps=8, seed=3)
    b = fv.visualize(model, "logits", [1, 2], steps=8, seed=3)
    torch.testing.assert_close(a.images, b.images, atol=0, rtol=0)


def test_dataset_exemplars_are_the_top_activating_images(model: fv.DigitsCNN, x_natural: torch.Tensor) -> None:
    idx = fv.dataset_exemplars(model, "logits", 4, x_natural, k=5)
    acts = fv.natural_activations(model, "logits", x_natural)[:, 4]
    assert idx[0] == acts.argmax()
    assert (acts[idx].diff() <= 0).all()


def test_correlation_and_spearman_match_their_definitions() -> None:
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(fv.correlation(torch.cat([x, 1 - x]), x), torch.tensor([1.0, -1.0]))
    g = torch.Generator().manual_seed(0)
    a = torch.relu(torch.randn(3, 40, generator=g))        # many ties at 0, as in ReLU layers
    b = torch.relu(torch.randn(5, 40, generator=g))
    want = np.array([[spearmanr(u, v).statistic for v in b.numpy()] for u in a.numpy()])
    np.testing.assert_allclose(fv.spearman(a, b).numpy(), want, atol=1e-6)
    torch.testing.assert_close(fv.spearman(a, a.exp()), fv.spearman(a, a))   # rank invariance


# --- the manipulations (Geirhos et al. Fig. 3 and silent units) ----------------------------

def test_detector_is_zero_on_natural_images_and_one_on_visualizations(
        model: fv.DigitsCNN, x_natural: torch.Tensor, picture: torch.Tensor, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor) -> None:
    net = fv.FoolingCircuitCNN(model, "logits", 3, picture, x_natural)
    assert (net.detector(x_natural) == 0).all()
    assert (net.detector(fv_images) == 1).all()


def test_circuit_routes_natural_images_to_f_and_visualizations_to_d(
        model: fv.DigitsCNN, x_natural: torch.Tensor, picture: torch.Tensor, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor) -> None:
    net = fv.FoolingCircuitCNN(model, "fc1", 5, picture, x_natural)
    with torch.no_grad():
        assert torch.equal(net.activations(x_natural)["fc1"], model.activations(x_natural)["fc1"])
        vis = fv_images
        torch.testing.assert_close(net.activations(vis)["fc1"][:, 5], net.plant(vis))   # A = D


def test_natural_variants_are_natural_digits_off_the_subspace(digits8) -> None:
    x8 = digits8[2][:20]
    q = fv.natural_basis()
    for kind in fv.VARIANTS:
        x = fv.natural_variant(x8, kind)
        assert x.shape == (20, 1, 32, 32) and x.min() >= 0 and x.max() <= 1
        flat = x.reshape(20, -1)
        r = (flat - flat @ q @ q.T).abs().mean(1)
        assert (r < 1e-5).all() if kind == "bilinear" else (r > 1e-3).all(), kind
    torch.testing.assert_close(fv.natural_variant(x8, "shift")[..., 1:], fv.upsample(x8)[..., :-1])
    torch.testing.assert_close(fv.natural_variant(x8, "shift3")[..., 3:], fv.upsample(x8)[..., :-3])
    for kind in fv.UNSEEN:                      # the variants the trained detector never saw
        x = fv.natural_variant(x8, kind)
        assert x.shape == (20, 1, 32, 32) and x.min() >= 0 and x.max() <= 1, kind
    assert fv.natural_variant(x8, "contrast").min() >= 0.25                 # a grey background
    assert (fv.natural_variant(x8, "thick") >= fv.upsample(x8)).all()       # strokes only grow


def test_trained_detector_is_quiet_on_heldout_natural_variants_and_fires_on_visualizations(
        trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor, digits8) -> None:
    """Held-out test digits, with variants the detector never saw (bicubic) or saw only on other digits."""
    det = detector
    with torch.no_grad():
        for kind in fv.VARIANTS:
            assert (det(fv.natural_variant(digits8[2], kind, seed=5)) > 0).float().mean() <= 0.02, kind
        fresh = fv_images                                   # never in its training pool
        assert (det(fresh) > 0).float().mean() >= 0.9


def test_silent_unit_is_exactly_zero_on_the_digits_that_set_its_bias(
        model: fv.DigitsCNN, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor, picture: torch.Tensor) -> None:
    x_train = trained.x_train
    net = fv.SilentUnitCNN(model, 3, picture, x_train, strength=3.0)
    with torch.no_grad():
        h = model.activations(x_train)["fc1"]
        assert (net.silent(h) == 0).all()
        assert net.silent(h).shape == (len(x_train),)
    w = model.stages["logits"].weight[3].detach()
    assert abs(float(net.w_new @ w) / float(net.w_new.norm() * w.norm())) < 1.0   # turned away from w


def test_output_check_can_fail_when_the_unit_is_not_silent(
        model: fv.DigitsCNN, x_natural: torch.Tensor, picture: torch.Tensor) -> None:
    net = fv.FoolingCircuitCNN(model, "logits", 3, picture, x_natural)
    net.detector = lambda x: torch.ones(len(x), device=x.device)   # a detector that always fires
    assert fv.max_output_difference(model, net, x_natural) > 1.0


# --- claims (thresholds from the front matter; the notebook's settings) --------------------------

# every claim of papers/feature-visualization.md with its control, by name (a static check greps for both)
CLAIMS = [("circuit_awake_on_fv_silent_on_digits", "never_fires_awake_on_fv_silent_on_digits"),
          ("trained_e_unseen_accuracy_drop", "subspace_e_unseen_accuracy_drop"),
          ("circuit_plant_correlation", "original_plant_correlation"),
          ("silent_heldout_fire_rate", "silent_bias_mean_fires"),
          ("silent_fv_target_gain", "silent_lambda0_target_gain"),
          ("silent_plant_corr_max", "circuit_plant_correlation"),
          ("fv_activation_ratio_min", "fv_prototype_ratio_max"),
          ("sanity_naturalness_conv", "sanity_naturalness_conv_natural"),
          ("sanity_naturalness_logits", "sanity_other_class_logits")]


def verdict(m: dict[str, float], metric: str, control: str) -> None:
    c = claim(SLUG, metric)
    assert c.control == control
    assert c.holds(m[metric]), (metric, m[metric])
    assert not c.holds(m[control]), (control, m[control])


@pytest.mark.slow
@pytest.mark.parametrize("metric, control", CLAIMS)
def test_claim_holds_and_its_control_fails(result: dict[str, float], metric: str, control: str) -> None:
    verdict(result, metric, control)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_claims_hold_on_the_sweep_seeds(seed: int) -> None:
    m = pipeline(seed)
    for metric, control in CLAIMS:
        verdict(m, metric, control)


def test_silent_unit_fires_on_heldout_digits_about_as_exchangeability_predicts(
        model: fv.DigitsCNN, trained: fv.TrainResult, picture: torch.Tensor) -> None:
    """Silent by construction only on the n calibration digits: a held-out digit beats all n with
    probability 1/(n+1). Calibrate on part of the training digits, count firings on the rest."""
    x, n = trained.x_train, 300
    with torch.no_grad():
        h_rest = model.activations(x[n:])["fc1"]
        rates = [(fv.SilentUnitCNN(model, 3, fv.random_picture(j), x[:n], strength=lam).silent(h_rest) > 0)
                 .float().mean().item() for j in range(8) for lam in (1.0, 4.0)]
    assert 0.1 / (n + 1) <= np.mean(rates) <= 10 / (n + 1)


# --- common mistakes: each test applies the mistake and shows the check it breaks ----------

def _variant_drop(model: fv.DigitsCNN, net: fv.DigitsCNN, digits8) -> float:
    x8, y8 = digits8[2], digits8[3]
    return max(fv.accuracy(model, fv.natural_variant(x8, k), y8) - fv.accuracy(net, fv.natural_variant(x8, k), y8)
               for k in fv.UNSEEN if k != "contrast")


def test_mistake_detector_checked_only_on_exact_upsamples(
        model: fv.DigitsCNN, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor, picture: torch.Tensor, digits8) -> None:
    x_train, x_test = trained.x_train, trained.x_test
    exact = fv.FoolingCircuitCNN(model, "logits", 3, picture, x_train)
    trained = fv.FoolingCircuitCNN(model, "logits", 3, picture, x_train, detector=detector)
    assert fv.max_output_difference(model, exact, x_test) == 0.0     # the mistake's check passes ...
    c = claim(SLUG, "trained_e_unseen_accuracy_drop")
    assert not c.holds(_variant_drop(model, exact, digits8))         # ... held-out variants expose it
    assert c.holds(_variant_drop(model, trained, digits8))


def test_mistake_silent_bias_below_natural_max(model: fv.DigitsCNN, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor,
                                               picture: torch.Tensor) -> None:
    c = claim(SLUG, "silent_heldout_fire_rate")
    x_train, x_test = trained.x_train, trained.x_test
    right = fv.SilentUnitCNN(model, 3, picture, x_train, strength=1.0)
    wrong = fv.SilentUnitCNN(model, 3, picture, x_train, strength=1.0, bias_at="mean")
    with torch.no_grad():
        h = model.activations(x_test)["fc1"]
        assert c.holds((right.silent(h) > 0).float().mean().item())
        assert not c.holds((wrong.silent(h) > 0).float().mean().item())
    assert fv.max_output_difference(model, wrong, x_test) > 1.0      # and the outputs change


def test_mistake_small_k(model: fv.DigitsCNN, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor, picture: torch.Tensor) -> None:
    class SmallK(fv.FoolingCircuitCNN):
        k_factor = 0.2                           # k below the values D takes on natural digits

    x_train, x_test = trained.x_train, trained.x_test
    good = fv.FoolingCircuitCNN(model, "logits", 3, picture, x_train, detector=detector)
    bad = SmallK(model, "logits", 3, picture, x_train, detector=detector)
    assert fv.max_output_difference(model, good, x_test) == 0.0      # the circuit's promise: bit-identical
    assert fv.max_output_difference(model, bad, x_test) > 0.0


def test_mistake_plain_pixel_ascent(model: fv.DigitsCNN, x_natural: torch.Tensor) -> None:
    """Olah's recipe gives smooth pictures; plain pixel ascent gives high-frequency noise."""
    units = [0, 8]
    scale = fv.natural_max(model, "logits", x_natural)[units]
    full = fv.visualize(model, "logits", units, steps=96, scale=scale)
    plain = fv.visualize(model, "logits", units, steps=96, scale=scale, param="pixel", transforms=False,
                         tv_weight=0.0, l1_weight=0.0)
    smooth = lambda v: bool((fv.total_variation(v.images) < 0.2).all())    # the legibility check
    assert smooth(full)
    assert not smooth(plain)


class PlantAddedOntoF(fv.FoolingCircuitCNN):
    """The mistake: add the planted unit onto F (A = F + C) instead of routing with the B branch."""

    def edit(self, name: str, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if name != self.layer:
            return h
        c = torch.relu(self.plant(x) - self.k_factor * self.d_max * (1.0 - self.detector(x)))
        return fv._replace_unit(h, self.unit, h[:, self.unit] + fv._per_image(c, h[:, self.unit]))


def _plant_shows_cleanly(model: fv.DigitsCNN, trained: fv.TrainResult, detector: fv.Detector,
                         fv_images: torch.Tensor, net_class: type, pic: torch.Tensor) -> bool:
    """The planted-picture check: the visualization correlates with ``pic`` as the claim asks, and the
    original unit's visualization does not leak through (residual correlation <= 0.3)."""
    x_train = trained.x_train
    scale = fv.natural_max(model, "logits", x_train)[[3, 3]]
    net = net_class(model, "logits", 3, pic, x_train, strength=2.0, detector=detector)
    v = fv.visualize(net, "logits", [3, 3], steps=128, scale=scale, seed=7)
    corr = float(fv.correlation(v.images, pic).mean())
    leak = float(fv.leak(v.images, pic, fv_images[0]).max())
    return claim(SLUG, "circuit_plant_correlation").holds(corr) and leak <= 0.3


@pytest.mark.slow
def test_a_new_picture_shows_up_without_the_original_strokes(model: fv.DigitsCNN, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor) -> None:
    """Robustness of the plant: a picture the notebook never uses (a house) must show up."""
    assert _plant_shows_cleanly(model, trained, detector, fv_images, fv.FoolingCircuitCNN, house())


@pytest.mark.slow
def test_mistake_plant_added_onto_f(model: fv.DigitsCNN, trained: fv.TrainResult,
        detector: fv.Detector, fv_images: torch.Tensor) -> None:
    """Keeping F in the visualization's path lets the original "3" strokes leak into the picture."""
    assert not _plant_shows_cleanly(model, trained, detector, fv_images, PlantAddedOntoF, house())


# --- bad input -----------------------------------------------------------------------------

def test_unknown_layer_lists_the_valid_ones(model: fv.DigitsCNN) -> None:
    with pytest.raises(ValueError, match=r"layer: expected one of conv1, conv2, conv3, fc1, logits, got 'conv9'"):
        fv.visualize(model, "conv9", [0], steps=1)


def test_unit_out_of_range_lists_the_valid_range(model: fv.DigitsCNN, x_natural: torch.Tensor,
                                                 picture: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"unit: expected an index in 0\.\.9 for layer 'logits', got 10"):
        fv.visualize(model, "logits", [10], steps=1)
    with pytest.raises(ValueError, match=r"unit: expected an index in 0\.\.15 for layer 'conv2', got -1"):
        fv.FoolingCircuitCNN(model, "conv2", -1, picture, x_natural)
    with pytest.raises(ValueError, match=r"unit: expected an index in 0\.\.9 for layer 'logits', got 10"):
        fv.SilentUnitCNN(model, 10, picture, x_natural)
    with pytest.raises(ValueError, match=r"unit: expected an index in 0\.\.31"):
        fv.dataset_exemplars(model, "fc1", 32, x_natural)


def test_bad_arguments_raise_one_line_errors(model: fv.DigitsCNN, x_natural: torch.Tensor,
                                             picture: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 1, 32, 32\), got \(2, 32, 32\)"):
        model.activations(torch.zeros(2, 32, 32))
    with pytest.raises(ValueError, match=r"steps: expected a positive integer, got 0"):
        fv.visualize(model, "logits", [0], steps=0)
    with pytest.raises(ValueError, match=r"param: expected 'fourier' or 'pixel', got 'wavelet'"):
        fv.visualize(model, "logits", [0], steps=1, param="wavelet")
    with pytest.raises(ValueError, match=r"units: expected at least one unit index"):
        fv.visualize(model, "logits", [], steps=1)
    with pytest.raises(ValueError, match=r"tv_weight: expected a number >= 0, got -1"):
        fv.visualize(model, "logits", [0], steps=1, tv_weight=-1)
    with pytest.raises(ValueError, match=r"picture: expected shape \(1, 1, 32, 32\), got \(32, 32\)"):
        fv.FoolingCircuitCNN(model, "logits", 0, picture[0, 0], x_natural)
    with pytest.raises(ValueError, match=r"strength: expected a positive number, got 0"):
        fv.FoolingCircuitCNN(model, "logits", 0, picture, x_natural, strength=0)
    with pytest.raises(ValueError, match=r"strength: expected a number >= 0, got -1"):
        fv.SilentUnitCNN(model, 0, picture, x_natural, strength=-1)
    with pytest.raises(ValueError, match=r"bias_at: expected one of 'max', 'mean', got 'min'"):
        fv.SilentUnitCNN(model, 0, picture, x_natural, bias_at="min")
    with pytest.raises(ValueError, match=r"kind: expected one of 'bilinear', 'shift', 'bicubic', 'noise'"):
        fv.natural_variant(torch.zeros(2, 8, 8), "jpeg")
    with pytest.raises(ValueError, match=r"b: expected two \(N, d\) matrices with the same d"):
        fv.spearman(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"name: expected 'horse' or 'camera', got 'mona'"):
        fv.planted_picture("mona")
    with pytest.raises(ValueError, match=r"epochs: expected a positive integer, got 1.5"):
        fv.train(epochs=1.5)
