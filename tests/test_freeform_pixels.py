"""Tests of minimal_impls/freeform_pixels.py: unit checks, small-run properties, common mistakes,
the notebook-size claims (slow) and bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import claim

from minimal_impls import freeform_pixels as fp
from minimal_impls import freeform_privacy as fpp

SLUG = "freeform-pixels"

# ---------------------------------------------------------------------------------------------
# Unit checks
# ---------------------------------------------------------------------------------------------

def test_all_ones_mask_measures_the_image_sum() -> None:
    images = torch.rand(5, 32, 32)
    m = fp.measure(images, torch.ones(1, 32, 32))
    assert m.shape == (5, 1)
    torch.testing.assert_close(m[:, 0], images.sum((-2, -1)))


def test_measurements_are_linear_in_the_image() -> None:
    g = torch.Generator().manual_seed(0)
    x, y, masks = torch.rand(3, 8, 8, generator=g), torch.rand(3, 8, 8, generator=g), torch.rand(4, 8, 8, generator=g)
    torch.testing.assert_close(fp.measure(2.0 * x - 0.5 * y, masks),
                               2.0 * fp.measure(x, masks) - 0.5 * fp.measure(y, masks))


def test_measure_works_on_clips_frame_by_frame() -> None:
    clips, masks = torch.rand(2, 4, 6, 10), torch.rand(3, 6, 10)
    out = fp.measure(clips, masks)
    assert out.shape == (2, 4, 3)
    torch.testing.assert_close(out[1, 2], fp.measure(clips[1, 2][None], masks)[0])


def test_masks_stay_transmittances_and_receive_gradients() -> None:
    pixels = fp.FreeformPixels(3, (8, 8), photons=None, bits=None)
    with torch.no_grad():
        pixels.theta.mul_(100)                       # whatever the optimiser does to theta
    m = pixels.masks()
    assert m.min() >= 0 and m.max() <= 1
    pixels(torch.rand(4, 8, 8)).sum().backward()
    assert pixels.theta.grad is not None and pixels.theta.grad.abs().sum() > 0


def test_white_scene_reads_full_scale_through_any_mask() -> None:
    pixels = fp.FreeformPixels(6, (8, 8), photons=None, bits=None)
    torch.testing.assert_close(pixels(torch.ones(2, 8, 8)), torch.ones(2, 6))


def test_adc_rounds_to_its_levels_with_a_straight_through_gradient() -> None:
    m = torch.tensor([[0.1234, 0.5, 0.9999]], requires_grad=True)
    r = fp.photodetector(m, torch.ones(3), photons=None, bits=4)
    assert torch.allclose(r * 15, (r * 15).round())
    r.sum().backward()
    torch.testing.assert_close(m.grad, torch.ones_like(m))


def test_binarised_masks_are_zero_or_one_and_still_train() -> None:
    pixels = fp.FreeformPixels(2, (6, 6), binarize="ste", photons=None, bits=None)
    m = pixels.masks()
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    pixels(torch.rand(3, 6, 6)).sum().backward()
    assert pixels.theta.grad.abs().sum() > 0


def test_conventional_pixels_are_block_averages() -> None:
    boxes = fp.block_masks(16, (32, 32))
    torch.testing.assert_close(boxes.sum(0), torch.ones(32, 32))     # the boxes tile the image once
    images = torch.rand(3, 32, 32)
    conv = fp.ConventionalPixels(16, (32, 32), photons=None, bits=None)
    torch.testing.assert_close(conv(images), F.avg_pool2d(images[:, None], 8).flatten(1))


def test_block_grid_follows_the_image_aspect() -> None:
    road = fp.block_masks(4, fp.ROAD_SHAPE)                 # a 1×4 row of boxes along a 12×40 road
    torch.testing.assert_close(road.sum((1, 2)), torch.full((4,), 120.0))
    assert (road.amax(2) == 1).all()                          # every box spans every row of the road
    room = fp.block_masks(4, (32, 32))                        # 2×2 on the square room
    assert (room.amax(2).sum(1) == 16).all() and (room.amax(1).sum(1) == 16).all()


def test_room_frames_counts_and_empty_twins() -> None:
    images, counts = fp.make_room(64, seed=5)
    empty, counts2 = fp.make_room(64, seed=5, empty=True)
    assert images.shape == (64, 32, 32) and images.min() >= 0 and images.max() <= 1
    assert counts.min() >= 0 and counts.max() <= fp.MAX_PEOPLE and torch.equal(counts, counts2)
    nobody = counts == 0
    torch.testing.assert_close(images[nobody], empty[nobody])
    # every person adds light on the floor; the outer rows of the wall band stay (almost) untouched
    diff = (images - empty).abs()
    assert (diff[:, :2].amax() < 0.01) and (diff[~nobody].flatten(1).amax(1) > 0.05).all()


def test_road_car_stays_in_view_and_speed_is_in_range() -> None:
    clips, speeds = fp.make_road(32, seed=1)
    assert clips.shape == (32, fp.ROAD_FRAMES, *fp.ROAD_SHAPE)
    assert speeds.min() >= 0.5 and speeds.max() <= 3.0
    torch.testing.assert_close(fp.make_road(32, seed=1)[0], clips)     # seeded
    assert not torch.equal(fp.make_road(32, seed=2)[0], clips)


def test_training_is_deterministic() -> None:
    data = fp.make_data("count", n_train=200, n_test=100, seed=7)
    a = fp.train("count", "freeform", 2, data=data, epochs=2, seed=1)
    b = fp.train("count", "freeform", 2, data=data, epochs=2, seed=1)
    assert a.score == b.score and a.losses == b.losses
    torch.testing.assert_close(a.model.optics.masks(), b.model.optics.masks())


def test_frozen_masks_stay_put_and_annealing_ends_near_a_step() -> None:
    data = fp.make_data("count", n_train=100, n_test=50, seed=3)
    torch.manual_seed(0)
    start = fp.FreeformPixels(4, (32, 32)).theta.detach().clone()   # train() seeds the same way
    frozen = fp.train("count", "freeform", 4, data=data, epochs=1, mask_lr=0.0)
    torch.testing.assert_close(frozen.model.optics.theta.detach(), start)
    annealed = fp.train("count", "freeform", 4, data=data, epochs=3, binarize="anneal")
    assert annealed.model.optics.tau == pytest.approx(0.02)
    m = annealed.model.optics.masks()
    assert ((m < 0.01) | (m > 0.99)).float().mean() > 0.9     # at tau = 0.02 the sigmoid is nearly a step


def test_bits_per_frame() -> None:
    assert fp.bits_per_frame(8, 12) == 96
    assert fp.VGA_BITS / fp.bits_per_frame(8, 12) == 25_600


def test_shot_noise_grows_with_the_square_root_of_the_light() -> None:
    masks = torch.zeros(2, 32, 32)
    masks[0, 8:12, 8:12] = 1                           # 16 cells
    masks[1, 8:24, 8:24] = 1                           # 256 cells: 16× the light of a uniform scene
    snr = fp.reading_snr(fp.FixedPixels(masks, bits=None, photons=200.0), torch.full((32, 32), 0.5))
    assert snr[1] / snr[0] == pytest.approx(4.0, rel=0.1)       # sqrt(16)
    want = 0.5 * 200 * 16 / (0.5 * 200 * 16 + fp.READ_NOISE ** 2) ** 0.5
    assert snr[0].item() == pytest.approx(want, rel=0.1)


def test_blob_masks_have_the_requested_coverage_and_are_smooth() -> None:
    blobs = fp.blob_masks(4, (32, 32), coverage=0.3, sigma=2.0, seed=1)
    assert set(blobs.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(blobs.mean((1, 2)), torch.full((4,), 0.3), atol=0.01, rtol=0)
    assert fp.roughness(blobs) < 0.25 < fp.roughness(torch.rand(4, 32, 32).round())


def test_matched_blobs_copy_coverage_and_roughness_of_given_masks() -> None:
    learned = fp.blob_masks(4, (32, 32), coverage=0.25, sigma=1.0, seed=7)   # stand-in for learned masks
    control = fp.matched_blob_masks(learned, seed=3)
    assert abs(control.mean().item() - 0.25) < 0.01
    assert abs(fp.roughness(control) - fp.roughness(learned)) < 0.05
    assert not torch.equal(control, learned)


def test_minimum_feature_size_paints_blocks() -> None:
    pixels = fp.FreeformPixels(3, (32, 32), binarize="ste", feature=2)
    m = pixels.masks()
    assert m.shape == (3, 32, 32)
    torch.testing.assert_close(m[:, ::2, ::2], m[:, 1::2, 1::2])
    assert min(fp.smallest_feature(x) for x in m) >= 4
    island = torch.zeros(8, 8)
    island[3, 3] = 1
    assert fp.smallest_feature(island) == 1


def test_misalign_shifts_with_opaque_fill_and_blur_keeps_the_light() -> None:
    m = torch.zeros(1, 6, 6)
    m[0, 2, 2] = 1
    moved = fp.misalign(m, (1, -1))
    assert moved[0, 3, 1] == 1 and moved.sum() == 1
    assert fp.misalign(m, (0, 6)).sum() == 0                       # out of the grid: lost
    blurred = fp.misalign(torch.ones(1, 6, 6), blur=1.0)
    torch.testing.assert_close(blurred, torch.ones(1, 6, 6))      # a flat mask stays flat
    assert fp.misalign(m, blur=0.7)[0, 2, 2] < 1


def test_recalibration_changes_only_the_statistics(room: fp.Data, trained: dict[str, fp.Result]) -> None:
    import copy

    model = copy.deepcopy(trained["free4"].model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp.recalibrate(model, room.x_train[:300], shift=(1, 0))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("norm" in k for k in changed)
    assert model.optics.shift == (0, 0) and not model.training


# ---------------------------------------------------------------------------------------------
# Small-run properties (1500 training frames; the claims themselves are checked at notebook size
# under @pytest.mark.slow below)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def room() -> fp.Data:
    return fp.make_data("count", n_train=1500, n_test=500, seed=0)


@pytest.fixture(scope="module")
def trained(room: fp.Data) -> dict[str, fp.Result]:
    free4 = fp.train("count", "freeform", 4, data=room)
    blobs = fp.matched_blob_masks(free4.model.optics.masks().detach(), seed=0)
    return {"free4": free4,
            "blob4": fp.train("count", "fixed", 4, data=room, masks=blobs),
            "conv4": fp.train("count", "conventional", 4, data=room),
            "conv64": fp.train("count", "conventional", 64, data=room)}


def test_small_run_learned_masks_beat_boxes_and_matched_random_blobs(trained: dict[str, fp.Result]) -> None:
    assert trained["free4"].score >= 0.8
    assert trained["free4"].score - trained["conv4"].score >= 0.3
    assert trained["free4"].score - trained["blob4"].score >= 0.3


def test_small_run_four_freeform_pixels_rival_sixtyfour_boxes(trained: dict[str, fp.Result]) -> None:
    assert trained["free4"].score >= trained["conv64"].score - 0.05


def test_small_run_scene_is_harder_to_rebuild_from_freeform_readings(room: fp.Data,
                                                                    trained: dict[str, fp.Result]) -> None:
    people = (room.x_test - fp.make_room(len(room.x_test), seed=1, empty=True)[0]).abs() > 0.02
    err = {}
    for name in ("free4", "conv64"):
        cam = trained[name].model
        rec = fpp.train_decoder(fpp.camera_readings(cam, room.x_train), room.x_train,
                               fpp.camera_readings(cam, room.x_test), room.x_test, focus=people, epochs=15)
        err[name] = rec.person_mse
    assert err["free4"] >= 2 * err["conv64"]


# ---------------------------------------------------------------------------------------------
# Common mistakes: each test applies the mistake and shows the check it breaks
# ---------------------------------------------------------------------------------------------

def _snr_gain(noise_after_gain: bool) -> float:
    masks = torch.zeros(2, 32, 32)
    masks[0, 15:17, 15:17] = 1
    masks[1, 2:30, 2:30] = 1
    optics = fp.FixedPixels(masks, bits=None, noise_after_gain=noise_after_gain)
    snr = fp.reading_snr(optics, torch.full((32, 32), 0.4))
    return (snr[1] / snr[0]).item()


def test_mistake_noise_after_gain() -> None:
    c = claim(SLUG, "snr_gain_largest_vs_smallest")
    assert c.holds(_snr_gain(noise_after_gain=False))          # shot noise: light is signal
    snr_gain_noise_after_gain = _snr_gain(noise_after_gain=True)
    assert not c.holds(snr_gain_noise_after_gain)              # the mistake: every mask equally precise


def test_mistake_speckle_control() -> None:
    """The control must match the learned masks' smoothness; grey speckle does not, matched blobs do."""
    learned = fp.blob_masks(4, (32, 32), coverage=0.3, sigma=1.5, seed=11)   # smooth, like learned masks
    target = fp.roughness(learned)
    torch.manual_seed(0)
    speckle = fp.FreeformPixels(4, (32, 32)).masks().detach()
    matched = fp.matched_blob_masks(learned, seed=2)
    assert abs(fp.roughness(matched) - target) < 0.05
    assert abs(fp.roughness(speckle) - target) > 0.05
    assert abs(fp.roughness((speckle > 0.5).float()) - target) > 0.2   # binarised speckle: salt and pepper


def test_mistake_threshold_without_straight_through() -> None:
    def grad_norm(straight_through: bool) -> float:
        pixels = fp.FreeformPixels(3, (8, 8), binarize="ste", photons=None, bits=None,
                                   straight_through=straight_through)
        out = pixels(torch.rand(5, 8, 8)).pow(2).sum()
        if not out.requires_grad:                 # nothing connects the readings to theta
            return 0.0
        out.backward()
        return 0.0 if pixels.theta.grad is None else pixels.theta.grad.abs().sum().item()

    assert grad_norm(True) > 0                    # the masks can learn
    assert grad_norm(False) == 0                  # the step function's gradient is zero: they cannot


def test_mistake_unconstrained_masks() -> None:
    def physical(pixels: fp.FreeformPixels) -> bool:
        m = pixels.masks()
        return bool((m >= 0).all() and (m <= 1).all())

    good = fp.FreeformPixels(3, (8, 8))
    bad = fp.FreeformPixels(3, (8, 8), constrain=False)
    with torch.no_grad():
        good.theta.copy_(torch.randn(3, 8, 8) * 5)
        bad.theta.copy_(good.theta)
    assert physical(good)
    assert not physical(bad)


def test_mistake_no_minimum_feature_size() -> None:
    """Binary masks trained without a minimum feature contain single-cell islands; feature=2 cannot."""
    data = fp.make_data("count", n_train=300, n_test=100, seed=4)
    plain = fp.train("count", "freeform", 4, data=data, binarize="ste", epochs=3)
    blocky = fp.train("count", "freeform", 4, data=data, binarize="ste", feature=2, epochs=3)
    assert min(fp.smallest_feature(m) for m in plain.model.optics.masks().detach()) < 4
    assert min(fp.smallest_feature(m) for m in blocky.model.optics.masks().detach()) >= 4


# ---------------------------------------------------------------------------------------------
# The claims at notebook size (slow): thresholds read from papers/freeform-pixels.md
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def notebook_room() -> fp.Data:
    return fp.make_data("count", n_train=1600, n_test=1000, seed=0)


@pytest.fixture(scope="module")
def k4_runs(notebook_room: fp.Data) -> dict[str, list[fp.Result]]:
    """The notebook's K = 4 comparison at seed 0: learned, boxes and matched blobs, training seeds 0-2."""
    out: dict[str, list[fp.Result]] = {"free": [], "blob": [], "conv": []}
    for s in (0, 1, 2):
        r = fp.train("count", "freeform", 4, data=notebook_room, seed=s)
        masks = fp.matched_blob_masks(r.model.optics.masks().detach().cpu(), seed=s)
        out["free"].append(r)
        out["blob"].append(fp.train("count", "fixed", 4, data=notebook_room, masks=masks, seed=s))
        out["conv"].append(fp.train("count", "conventional", 4, data=notebook_room, seed=s))
    return out


@pytest.fixture(scope="module")
def k_sweep(notebook_room: fp.Data) -> dict[str, fp.Result]:
    """The notebook's other cameras at seed 0: K = 1 and 8 freeform, 1-64 boxes, the early-stopped CNN."""
    runs = {f"free{k}": fp.train("count", "freeform", k, data=notebook_room) for k in (1, 8)}
    runs |= {f"conv{k}": fp.train("count", "conventional", k, data=notebook_room) for k in (1, 8, 16, 64)}
    runs["cnn"] = fp.train("count", "cnn", data=notebook_room, epochs=60, lr=3e-3, val_fraction=0.2, patience=10)
    return runs


@pytest.mark.slow
def test_claim_learned_masks_count_on_every_seed_and_random_blobs_do_not(k4_runs: dict) -> None:
    free, blob, conv = ([r.score for r in k4_runs[key]] for key in ("free", "blob", "conv"))
    c = claim(SLUG, "freeform_acc_k4_min")
    blob_acc_k4_max = max(blob)                                                 # the control
    assert c.holds(min(free)) and not c.holds(blob_acc_k4_max)
    gap = claim(SLUG, "k4_gap_min_over_seeds")
    assert gap.holds(min(f - v for f, v in zip(free, conv)))
    blob_minus_conventional_k4 = sum(blob) / 3 - sum(conv) / 3                  # the control
    assert not gap.holds(blob_minus_conventional_k4)


@pytest.mark.slow
def test_claim_accuracy_rises_with_k_for_freeform_pixels_not_boxes(k_sweep: dict) -> None:
    c = claim(SLUG, "freeform_k8_minus_k1")
    freeform_k8_minus_k1 = k_sweep["free8"].score - k_sweep["free1"].score
    conventional_k8_minus_k1 = k_sweep["conv8"].score - k_sweep["conv1"].score
    assert c.holds(freeform_k8_minus_k1) and not c.holds(conventional_k8_minus_k1)


@pytest.mark.slow
def test_claim_eight_freeform_pixels_match_the_early_stopped_cnn(k_sweep: dict) -> None:
    cnn = k_sweep["cnn"]
    assert len(cnn.val_scores) < 60 or cnn.val_scores[-1] == max(cnn.val_scores)   # it stopped on a plateau
    c = claim(SLUG, "freeform_k8_minus_cnn")
    freeform_k8_minus_cnn = k_sweep["free8"].score - cnn.score
    conventional_k8_minus_cnn = k_sweep["conv8"].score - cnn.score
    assert c.holds(freeform_k8_minus_cnn) and not c.holds(conventional_k8_minus_cnn)


@pytest.mark.slow
def test_claim_four_freeform_pixels_beat_sixtyfour_boxes(k4_runs: dict, k_sweep: dict) -> None:
    c = claim(SLUG, "freeform_k4_min_minus_conventional_k64")
    freeform_k4_min_minus_conventional_k64 = min(r.score for r in k4_runs["free"]) - k_sweep["conv64"].score
    conventional_k16_minus_conventional_k64 = k_sweep["conv16"].score - k_sweep["conv64"].score
    assert c.holds(freeform_k4_min_minus_conventional_k64)
    assert not c.holds(conventional_k16_minus_conventional_k64)


@pytest.mark.slow
def test_claim_constant_light_leaves_a_smaller_but_real_lead() -> None:
    """The ablation: same rooms under one constant light, the same three training seeds."""
    room = fp.make_data("count", n_train=1000, n_test=1000, seed=0, constant_light=True)
    gaps, controls = [], []
    for s in (0, 1, 2):
        free = fp.train("count", "freeform", 4, data=room, seed=s)
        conv = fp.train("count", "conventional", 4, data=room, seed=s)
        blob = fp.train("count", "fixed", 4, data=room, seed=s,
                        masks=fp.matched_blob_masks(free.model.optics.masks().detach().cpu(), seed=s))
        gaps.append(free.score - conv.score)
        controls.append(blob.score - conv.score)
    c = claim(SLUG, "k4_gap_constant_light_min")
    k4_gap_constant_light_min, blob_minus_conventional_k4_constant_light = min(gaps), max(controls)
    assert c.holds(k4_gap_constant_light_min) and not c.holds(blob_minus_conventional_k4_constant_light)
    assert not claim(SLUG, "k4_gap_min_over_seeds").holds(k4_gap_constant_light_min)   # the lead shrinks


@pytest.mark.slow
def test_claim_privacy_leaks_less_than_an_image_but_not_nothing(notebook_room: fp.Data, k4_runs: dict,
                                                               k_sweep: dict) -> None:
    """The notebook's attacker at seed 0: freeform K = 4 against 8x8 boxes, the empty room, shuffled
    readings, and a second decoder on the 8x8 readings (the control of the ratio)."""
    room = notebook_room
    empty = fp.make_room(len(room.x_test), seed=1, empty=True)[0]
    people = (room.x_test - empty).abs() > 0.02
    err = {}
    for name, cam, seed in [("free", k4_runs["free"][0].model, 0), ("conv", k_sweep["conv64"].model, 0),
                            ("conv again", k_sweep["conv64"].model, 100)]:
        r_tr, r_te = fpp.camera_readings(cam, room.x_train), fpp.camera_readings(cam, room.x_test)
        err[name] = fpp.train_decoder(r_tr, room.x_train, r_te, room.x_test, focus=people, seed=seed)
    empty_err = (((empty - room.x_test) ** 2) * people).sum().item() / people.sum().item()
    r_te = fpp.camera_readings(k4_runs["free"][0].model, room.x_test)
    perm = torch.randperm(len(r_te), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rec = err["free"].decoder(r_te[perm]).reshape(room.x_test.shape)
    shuffled_err = (((rec - room.x_test) ** 2) * people).sum().item() / people.sum().item()
    c = claim(SLUG, "freeform_below_empty_room")
    freeform_below_empty_room, shuffled_below_empty_room = 1 - err["free"].person_mse / empty_err, 1 - shuffled_err / empty_err
    assert c.holds(freeform_below_empty_room) and not c.holds(shuffled_below_empty_room)
    c = claim(SLUG, "recon_error_ratio")
    recon_error_ratio = err["free"].person_mse / err["conv"].person_mse
    recon_error_ratio_64_boxes = err["conv again"].person_mse / err["conv"].person_mse
    assert c.holds(recon_error_ratio) and not c.holds(recon_error_ratio_64_boxes)


@pytest.mark.slow
def test_claim_binary_masks_lose_little(notebook_room: fp.Data) -> None:
    grey = fp.train("count", "freeform", 4, data=notebook_room)
    binary = fp.train("count", "freeform", 4, data=notebook_room, binarize="ste")
    printable = fp.train("count", "freeform", 4, data=notebook_room, binarize="ste", feature=2, mask_jitter=1)
    c = claim(SLUG, "binarize_cost")
    assert c.holds(grey.score - binary.score)
    printable_cost = grey.score - printable.score
    assert not c.holds(printable_cost)


@pytest.mark.slow
def test_claim_printable_masks_survive_misalignment(notebook_room: fp.Data) -> None:
    import copy

    perturbations = [((0, 1), 0.0), ((1, 0), 0.0), ((1, 1), 0.0), ((0, 0), 0.5), ((0, 0), 1.0)]

    def worst_drop(result: fp.Result) -> float:
        accs = []
        for shift, blur in perturbations:
            model = copy.deepcopy(result.model)
            fp.recalibrate(model, notebook_room.x_train[:1000], shift, blur)
            accs.append(fp.evaluate(model, notebook_room.x_test, notebook_room.y_test, "count", shift=shift, blur=blur))
        return result.score - min(accs)

    grey = fp.train("count", "freeform", 4, data=notebook_room)
    printable = fp.train("count", "freeform", 4, data=notebook_room, binarize="ste", feature=2, mask_jitter=1)
    c = claim(SLUG, "printable_misalignment_drop")
    assert c.holds(worst_drop(printable))
    grey_misalignment_drop = worst_drop(grey)
    assert not c.holds(grey_misalignment_drop)


@pytest.mark.slow
def test_claim_speed_from_freeform_pixels_beats_boxes_and_needs_time() -> None:
    road = fp.make_data("speed", n_train=3000, n_test=1000, seed=0)
    free = fp.train("speed", "freeform", 4, data=road, epochs=50)
    conv = fp.train("speed", "conventional", 4, data=road, epochs=50)
    one = fp.Data("speed", road.x_train[:, 0], road.y_train, road.x_test[:, 0], road.y_test)
    single = fp.train("speed", "freeform", 4, data=one, epochs=30)
    c = claim(SLUG, "speed_mae_ratio")
    speed_mae_ratio_single_frame = conv.score / single.score
    assert c.holds(conv.score / free.score) and not c.holds(speed_mae_ratio_single_frame)


def test_early_stopping_keeps_the_best_validation_epoch() -> None:
    room = fp.make_data("count", n_train=300, n_test=100, seed=0)
    r = fp.train("count", "freeform", 2, data=room, epochs=12, val_fraction=0.25, patience=2)
    assert 1 <= len(r.val_scores) <= 12
    best = max(range(len(r.val_scores)), key=lambda i: r.val_scores[i])
    assert len(r.val_scores) == 12 or len(r.val_scores) - 1 - best == 2      # stopped `patience` epochs later
    with pytest.raises(ValueError, match="val_fraction"):
        fp.train("count", "freeform", 2, data=room, epochs=1, val_fraction=0.9)


def test_constant_light_renders_the_same_rooms_under_one_light() -> None:
    drift, _ = fp.make_room(6, seed=3)
    const, counts = fp.make_room(6, seed=3, constant_light=True)
    empty, _ = fp.make_room(6, seed=3, constant_light=True, empty=True)
    assert not torch.allclose(drift, const)
    torch.testing.assert_close(empty, empty[:1].expand_as(empty))            # one light: every empty room alike
    assert counts.shape == (6,)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def test_k_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"k: expected an integer >= 1, got 0"):
        fp.FreeformPixels(0, (8, 8))
    with pytest.raises(ValueError, match=r"k: expected an integer >= 1, got -2"):
        fp.train("count", "freeform", -2)
    with pytest.raises(ValueError, match=r"k: expected an integer >= 1"):
        fp.ConventionalPixels(0, (8, 8))


def test_image_of_the_wrong_shape_is_rejected() -> None:
    camera = fp.build("count", "freeform", 4, (32, 32))
    with pytest.raises(ValueError, match=r"scenes: expected shape \(N, 32, 32\), got \(2, 28, 28\)"):
        camera(torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match=r"images: expected shape \(\.\.\., 8, 8\)"):
        fp.measure(torch.rand(3, 8, 9), torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match=r"masks: expected shape \(K, H, W\)"):
        fp.measure(torch.rand(3, 8, 8), torch.rand(8, 8))
    cnn = fp.build("speed", "cnn", 1, fp.ROAD_SHAPE, frames=fp.ROAD_FRAMES)
    with pytest.raises(ValueError, match=r"scenes: expected shape \(N, 4, 12, 40\)"):
        cnn(torch.rand(2, 12, 40))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"task: expected one of 'count', 'speed', got 'colour'"):
        fp.train("colour")
    with pytest.raises(ValueError, match=r"pixels: expected one of"):
        fp.train("count", "hexagonal")
    with pytest.raises(ValueError, match=r"binarize: expected one of"):
        fp.FreeformPixels(4, (8, 8), binarize="dither")
    with pytest.raises(ValueError, match=r"binarize: only freeform pixels"):
        fp.train("count", "conventional", 4, binarize="ste")
    with pytest.raises(ValueError, match=r"bits: expected an integer in \[1, 24\], got 0"):
        fp.train("count", bits=0)
    with pytest.raises(ValueError, match=r"photons: expected a positive number, got -1"):
        fp.train("count", photons=-1)
    with pytest.raises(ValueError, match=r"feature: expected a divisor of both sides of the 32×32 grid, got 3"):
        fp.FreeformPixels(4, (32, 32), feature=3)
    with pytest.raises(ValueError, match=r"masks: expected a \(K, H, W\) tensor of masks for pixels='fixed'"):
        fp.train("count", "fixed")
    with pytest.raises(ValueError, match=r"coverage: expected a number in \(0, 1\]"):
        fp.blob_masks(2, (8, 8), coverage=0.0, sigma=1.0)
    with pytest.raises(ValueError, match=r"k: expected a grid of boxes that fits a 2×2 image"):
        fp.block_masks(7, (2, 2))
    with pytest.raises(ValueError, match=r"n_people: expected an integer in \[0, 5\], got 9"):
        fp.room_walk(n_people=9)
    with pytest.raises(ValueError, match=r"data: expected a 'speed' data set"):
        fp.train("speed", data=fp.make_data("count", 10, 10))


def test_bad_decoder_and_evaluation_input_is_rejected() -> None:
    conv = fp.build("count", "conventional", 4, (32, 32))
    with pytest.raises(ValueError, match=r"hard: only freeform pixels"):
        fp.evaluate(conv, torch.rand(4, 32, 32), torch.zeros(4, dtype=torch.long), "count", hard=True)
    with pytest.raises(ValueError, match=r"x_train: expected shape \(10, N, N\)"):
        fpp.train_decoder(torch.rand(10, 4), torch.rand(9, 32, 32), torch.rand(5, 4), torch.rand(5, 32, 32))
    with pytest.raises(ValueError, match=r"r_test: expected 4 readings per scene"):
        fpp.train_decoder(torch.rand(10, 4), torch.rand(10, 32, 32), torch.rand(5, 3), torch.rand(5, 32, 32))
