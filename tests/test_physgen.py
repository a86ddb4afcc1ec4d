"""Tests for minimal_impls/physgen.py: perception, the pipeline's physics claims, rendering, mistakes.

The engine's own unit tests are in tests/test_rigid_body.py. Claim tests read their thresholds
from papers/physgen.md through `claim(...)`; the `test_mistake_*` tests apply a classic bug and
show that the paper's checks catch it.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import claim

from minimal_impls import physgen as pg
from minimal_impls import rigid_body as rb


@pytest.fixture(scope="module")
def scene() -> pg.Scene:
    return pg.make_scene()


@pytest.fixture(scope="module")
def perception(scene: pg.Scene) -> pg.Perception:
    return pg.perceive(scene.image)


@pytest.fixture(scope="module")
def result() -> pg.RunResult:
    """The three default pushes, one simulated second each (enough for every first hit)."""
    return pg.run(duration=1.0, frame_every=24)


def seg_score(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean best IoU, the worse of the two directions: extra masks and missed objects both count."""
    return float(min(pg.match_objects(pred, true)[1].mean(), pg.match_objects(true, pred)[1].mean()))


def max_apex_error(**options) -> float:
    return float(np.abs(rb.drop(restitution=0.8, height=200.0, **options)["rel_error"]).max())


# --- perception ---------------------------------------------------------------------------------

def test_chromaticity_ignores_shading(scene: pg.Scene) -> None:
    """Multiplying RGB by a shading factor leaves hue and saturation, hence the features, alone."""
    np.testing.assert_allclose(pg.chromaticity(scene.image * 0.4), pg.chromaticity(scene.image), atol=1e-9)


def test_claim_segmentation_and_primitives(scene: pg.Scene, perception: pg.Perception) -> None:
    match, _ = pg.match_objects(perception.masks, scene.masks)
    assert sorted(match.tolist()) == list(range(len(scene.objects)))     # one mask per object
    assert claim("physgen", "seg_iou_mean").holds(seg_score(perception.masks, scene.masks))
    primitive_kinds_correct = [p.kind for p in perception.primitives] == [scene.objects[j].kind for j in match]
    assert claim("physgen", "primitive_kinds_correct").holds(primitive_kinds_correct)
    assert perception.colors == ["blue", "magenta", "cyan", "purple"]
    assert [m.name for m in perception.materials] == ["wooden crate", "rubber ball", "glass marble", "steel block"]
    # the control: without an object list, every colour is an "object" (the pagoda, the trees...)
    everything = pg.segment(scene.image, prompt=tuple(name for name, _, _ in pg.HUE_NAMES))
    seg_iou_every_colour = seg_score(everything, scene.masks)
    assert not claim("physgen", "seg_iou_mean").holds(seg_iou_every_colour)
    # and the circle rule matters: at IoU >= 0.99 a ball becomes a box
    strict = [pg.fit_primitive(m, circle_iou=0.99).kind for m in perception.masks]
    primitive_kinds_strict_rule = strict == [scene.objects[j].kind for j in match]
    assert not claim("physgen", "primitive_kinds_correct").holds(primitive_kinds_strict_rule)


def test_fit_primitive_recovers_circle_and_rotated_box() -> None:
    grid = pg._pixel_centres(80, 80)
    disc = rb.sdf("circle", grid, np.array([30.0, 40.0]), np.array([24.0, 24.0]), 0.0) <= 0
    prim = pg.fit_primitive(disc)
    assert prim.kind == "circle" and abs(prim.size[0] - 24) < 0.6
    np.testing.assert_allclose(prim.center, [30, 40], atol=0.3)
    # A square has isotropic second moments: the angle must come from the min-area search.
    square = rb.sdf("box", grid, np.array([40.0, 40.0]), np.array([30.0, 30.0]), 0.35) <= 0
    prim = pg.fit_primitive(square)
    assert prim.kind == "box" and abs(prim.angle - 0.35) < 0.03 and np.allclose(prim.size, 30, atol=1.5)


def test_fit_light_recovers_its_own_model() -> None:
    """On shading made by the fitted model itself (n.l + c on a sphere), the fit is exact."""
    masks = np.zeros((1, 64, 64), bool)
    grid = pg._pixel_centres(64, 64)
    masks[0] = np.linalg.norm(grid - 32, axis=-1) < 28
    prim = rb.Primitive("circle", np.array([32.0, 32.0]), np.array([60.0, 60.0]), 0.0)
    normals = pg.normal_map(masks, [prim])
    light = 0.6 * np.array([-0.3, -0.4, 0.866]) / np.linalg.norm([-0.3, -0.4, 0.866])
    shading = normals @ light + 0.25
    fitted, bias = pg.fit_light(shading, normals, np.full((64, 64, 3), 0.5), mask=masks[0])
    np.testing.assert_allclose(fitted, light, atol=1e-3)
    assert abs(bias - 0.25) < 1e-3


def test_whole_image_light_fit_points_up_left(scene: pg.Scene, perception: pg.Perception) -> None:
    """The authors' whole-image fit is far from exact on our scene, but on the light's side."""
    assert perception.light[0] < 0 and perception.light[1] < 0 and perception.bias >= 0.1


def test_no_object_raises() -> None:
    with pytest.raises(ValueError, match="image: expected at least one object"):
        pg.segment(pg.load_background())


# --- dynamics: the paper's physics claims on the engine -------------------------------------------

def test_claim_free_flight_bounce_and_friction() -> None:
    assert claim("physgen", "projectile_max_error_px").holds(rb.projectile()["max_error"])
    # the control: Pymunk's semi-implicit Euler, at our step and the authors'
    projectile_euler_error_px = rb.projectile(flight="euler")["max_error"]
    assert not claim("physgen", "projectile_max_error_px").holds(projectile_euler_error_px)
    assert not claim("physgen", "projectile_max_error_px").holds(rb.projectile(flight="euler", dt=1 / 60)["max_error"])
    assert claim("physgen", "bounce_apex_max_error").holds(max_apex_error())
    assert claim("physgen", "slide_stop_error").holds(abs(rb.slide()["rel_error"]))


def test_claim_rolling_and_its_frictionless_control() -> None:
    c = claim("physgen", "rolling_ratio_error")
    assert c.holds(abs(rb.rolling()["speed_ratio"] - 2 / 3))
    rolling_ratio_error_frictionless = abs(rb.rolling(friction=0.0)["speed_ratio"] - 2 / 3)
    assert not c.holds(rolling_ratio_error_frictionless)                  # it slides on at v0


def test_claim_momentum_and_the_centre_impulse_control() -> None:
    c = claim("physgen", "momentum_rel_error")
    out = rb.collision()
    assert out["collided"] and c.holds(max(out["linear_error"], out["angular_error"]))
    centre = rb.collision(contact_torque=False)
    momentum_rel_error_centre_impulse = max(centre["linear_error"], centre["angular_error"])
    assert centre["collided"] and centre["linear_error"] < 1e-9          # linear momentum is still kept
    assert not c.holds(momentum_rel_error_centre_impulse)               # angular momentum is not


def car_random_error(seed: int) -> float:
    """The notebook's control car_traj_error_random_px: 5 draws of (mu_car, mu_ground) in [0.1, 1]^2."""
    exact = pg.car_scene()["exact"]
    draws = np.random.default_rng(seed).uniform(0.1, 1.0, (5, 2))
    return float(np.mean([np.abs(pg.car_scene(friction=float(a), ground_friction=float(b))["x"] - exact).max()
                          for a, b in draws]))


def test_claim_authors_car_scene_and_random_parameters() -> None:
    out = pg.car_scene()
    assert claim("physgen", "car_traj_error_px").holds(float(np.abs(out["x"] - out["exact"]).max()))
    assert abs(out["mu"] - 0.2 * 0.9) < 1e-12 and len(out["x"]) == 16
    for seed in range(5):                                     # the control on every seed of the sweep
        car_traj_error_random_px = car_random_error(seed)
        assert not claim("physgen", "car_traj_error_px").holds(car_traj_error_random_px)


def test_car_scene_closed_form_follows_the_friction_it_is_given() -> None:
    """`exact` is computed from the run's own mu, so any friction matches its own closed form."""
    out = pg.car_scene(friction=0.7, ground_friction=0.6)
    assert abs(out["mu"] - 0.42) < 1e-12
    assert claim("physgen", "car_traj_error_px").holds(float(np.abs(out["x"] - out["exact"]).max()))


def test_claim_pushes_give_the_outcomes_kinematics_predicts(result: pg.RunResult) -> None:
    hits = {name: ro.first_hit for name, ro in result.rollouts.items()}
    assert hits == {"push left": 0, "push right": 2, "lob right": 3}       # crate, marble, block
    assert claim("physgen", "distinct_first_hits").holds(len(set(hits.values())))
    assert claim("physgen", "hits_match_kinematics").holds(
        all(ro.first_hit == ro.predicted_hit for ro in result.rollouts.values()))
    # control hits_match_kinematics_mirrored: the prediction for the mirrored push must disagree
    size = result.scene.image.shape[:2]
    hits_match_kinematics_mirrored = all(
        ro.first_hit == rb.predict_first_hit(result.perception.primitives,
                                             dataclasses.replace(ro.pushes[0], force=(-ro.pushes[0].force[0],
                                                                                      ro.pushes[0].force[1])), size)
        for ro in result.rollouts.values())
    assert not claim("physgen", "hits_match_kinematics").holds(hits_match_kinematics_mirrored)
    distinct_first_hits_push_ignored = len({hits["push left"]})                 # one outcome for every push
    assert not claim("physgen", "distinct_first_hits").holds(distinct_first_hits_push_ignored)
    for ro in result.rollouts.values():                                    # the struck body moves away
        moved = ro.trajectory.pos[-1, ro.first_hit, 0] - ro.trajectory.pos[0, ro.first_hit, 0]
        assert np.sign(moved) == np.sign(ro.pushes[0].force[0]) and abs(moved) > 0.2
        assert ro.trajectory.max_penetration < 0.5


# --- rendering ------------------------------------------------------------------------------------

def test_rendering_at_the_initial_pose_reproduces_the_input(scene: pg.Scene, perception: pg.Perception) -> None:
    """Round trip: albedo x shading at the unmoved pose, composited over the inpainted background."""
    background = pg.inpaint_background(scene.image, perception.masks)
    traj = rb.simulate(pg.world_from(perception, scene.image.shape[:2]), duration=0.05, frame_every=12)
    frames = pg.render_video(scene.image, background, perception, traj)
    assert frames.shape == (2, *scene.image.shape) and frames.dtype == np.uint8
    err = np.abs(frames[0].astype(float) / 255 - scene.image)[perception.masks.any(0)].mean()
    assert err < 0.01


@pytest.fixture(scope="module")
def truth(scene: pg.Scene, result: pg.RunResult) -> tuple[np.ndarray, np.ndarray, float]:
    """True frames and masks of the "push right" rollout, and the moved-pixels error against them."""
    ro = result.rollouts["push right"]
    frames, masks = pg.ground_truth_video(scene, result.perception, ro.trajectory)
    naive = pg.render_video(scene.image, result.background, result.perception, ro.trajectory, relight=False)
    return frames, masks, pg.appearance_error(naive, frames, masks)


def relight_errors(scene: pg.Scene, result: pg.RunResult, truth: tuple, **render) -> tuple[float, float]:
    """(relit error, moved-pixels error) of the "push right" rollout against the true frames."""
    frames, masks, naive = truth
    perception = render.pop("perception", result.perception)
    relit = pg.render_video(scene.image, result.background, perception, result.rollouts["push right"].trajectory,
                            **render)
    return pg.appearance_error(relit, frames, masks), naive


def test_claim_relighting_beats_moving_pixels_but_not_with_a_frontal_light(scene: pg.Scene, result: pg.RunResult,
                                                                           truth: tuple) -> None:
    relit, naive = relight_errors(scene, result, truth)
    assert claim("physgen", "relight_error_ratio").holds(relit / naive)
    frontal = dataclasses.replace(result.perception, light=np.array([0.0, 0.0, np.linalg.norm(result.perception.light)]))
    relit_f, _ = relight_errors(scene, result, truth, perception=frontal)
    relight_error_ratio_frontal = relit_f / naive
    assert not claim("physgen", "relight_error_ratio").holds(relight_error_ratio_frontal)


def test_true_frames_are_not_the_relighters_model(scene: pg.Scene, perception: pg.Perception) -> None:
    """The truth has a highlight and a contact shadow: a Lambertian world differs from it."""
    lambert = pg.make_scene(specular=0.0, occlusion=0.0)
    diff = np.abs(lambert.image - scene.image)[scene.masks.any(0)].max()
    assert diff > 0.2


def test_quantized_frames_share_one_palette(result: pg.RunResult) -> None:
    frames = result.rollouts["push left"].frames
    q = pg.quantize_frames(frames, colors=64)
    assert q.shape == frames.shape and len(np.unique(q.reshape(-1, 3), axis=0)) <= 64
    static = (frames == frames[0]).all((0, 3))                  # pixels that never change...
    assert (q == q[0])[:, static].all()                         # ...stay identical after quantising


# --- generative refinement: Algorithm 1's fusion schedule ----------------------------------------

def test_fusion_schedule_code_and_printed() -> None:
    """A denoiser that returns the guidance's own noise level exactly: fused steps land on the
    re-noised guidance with weight 1 - i/n; the code's last `stop` steps, and the printed
    condition's first `stop` steps, are the model's alone."""
    guide = np.zeros((2, 8, 8))
    prior = pg.GaussianVideoPrior(np.ones((2, 8, 8)), np.full((8, 8), 1e-12))   # the model says "1"
    mask = np.ones_like(guide, bool)
    last = pg.refine(guide, mask, prior, stop=5, seed=0)
    assert np.allclose(last, 1.0)                     # the last 5 steps are the model's: it has the final word
    printed = pg.refine(guide, mask, prior, stop=5, condition="printed", seed=0)
    w = 24 / 25                                       # fused at the very last step with w = (n - 1) / n
    assert np.allclose(printed, w * 1.0 + (1 - w) * 0.0)
    none = pg.refine(guide, mask, prior, fuse=False, seed=0)
    assert np.allclose(none, 1.0)


@pytest.mark.slow
def test_claim_fusion_keeps_the_foreground_and_plain_sdedit_does_not() -> None:
    """At the notebook's settings (push right, 2 s, 16 frames at half resolution), seeds 0-4."""
    res = pg.run(seed=0)
    ro = res.rollouts["push right"]
    _, masks = pg.ground_truth_video(res.scene, res.perception, ro.trajectory)
    idx = np.linspace(0, len(ro.frames) - 1, 16).round().astype(int)
    guide = (ro.frames[idx].mean(-1) / 127.5 - 1).reshape(16, 64, 2, 96, 2).mean((2, 4))
    fg = masks[idx].reshape(16, 64, 2, 96, 2).mean((2, 4)) > 0.5
    prior = pg.GaussianVideoPrior(np.repeat(guide[:1], 16, 0), pg.smooth_power(guide.shape[1:]))
    c = claim("physgen", "fusion_fg_drift")
    for seed in range(5):
        fusion_fg_drift = pg.fusion_drift(pg.refine(guide, fg, prior, seed=seed), guide, prior.mean, fg)
        fusion_fg_drift_no_fusion = pg.fusion_drift(pg.refine(guide, fg, prior, fuse=False, seed=seed),
                                                    guide, prior.mean, fg)
        assert c.holds(fusion_fg_drift) and not c.holds(fusion_fg_drift_no_fusion)


# --- common mistakes: each one applied, and caught --------------------------------------------------

def test_mistake_speculative_restitution() -> None:
    """Bouncing as soon as a gap *can* close within the step turns the ball round above the floor."""
    assert claim("physgen", "bounce_apex_max_error").holds(max_apex_error())
    bounce_apex_error_speculative = max_apex_error(restitution_at="speculative")
    assert not claim("physgen", "bounce_apex_max_error").holds(bounce_apex_error_speculative)


@pytest.mark.parametrize("rule", ["mean", "object only"])
def test_mistake_friction_combination(monkeypatch: pytest.MonkeyPatch, rule: str) -> None:
    """Averaging the two frictions, or forgetting the ground's, moves the stopping point.

    The 2/3 rolling test cannot see it: the final rolling speed does not depend on mu.
    """
    wrong = {"mean": lambda a, b: (a + b) / 2, "object only": lambda a, b: a + 0 * b}[rule]
    assert claim("physgen", "slide_stop_error").holds(abs(rb.slide()["rel_error"]))       # the product rule
    monkeypatch.setattr(rb, "combine", wrong)
    slide_stop_error_mean_rule = abs(rb.slide()["rel_error"])        # (or the object's mu only)
    assert not claim("physgen", "slide_stop_error").holds(slide_stop_error_mean_rule)
    car = pg.car_scene()
    assert not claim("physgen", "car_traj_error_px").holds(float(np.abs(car["x"] - car["exact"]).max()))
    assert claim("physgen", "rolling_ratio_error").holds(abs(rb.rolling()["speed_ratio"] - 2 / 3))   # blind


def test_mistake_semi_implicit_euler_taken_for_exact() -> None:
    """x += dt v_new (Pymunk's update) drops a t dt/2: the parabola and the apexes come out wrong."""
    assert not claim("physgen", "projectile_max_error_px").holds(rb.projectile(flight="euler")["max_error"])
    assert not claim("physgen", "bounce_apex_max_error").holds(max_apex_error(flight="euler"))


def test_mistake_rotation_sign_flipped(scene: pg.Scene, result: pg.RunResult, truth: tuple) -> None:
    """The simulator's angle and the warp's rotation use opposite conventions (the authors' code
    passes -theta to Kornia): get the sign wrong and the objects spin backwards."""
    relit, naive = relight_errors(scene, result, truth)
    flipped, _ = relight_errors(scene, result, truth, angle_sign=-1.0)
    assert flipped > 1.15 * relit
    assert claim("physgen", "relight_error_ratio").holds(relit / naive)          # the correct sign passes
    assert not claim("physgen", "relight_error_ratio").holds(flipped / naive)    # the flipped one fails


# --- bad input ------------------------------------------------------------------------------------

def test_bad_inputs_raise_one_line_errors(perception: pg.Perception) -> None:
    with pytest.raises(ValueError, match=r"image: expected an array of shape \(H, W, 3\)"):
        pg.segment(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="prompt: expected colour names"):
        pg.segment(np.zeros((32, 32, 3)), prompt=("teal",))
    with pytest.raises(ValueError, match=r"objects\[0\].kind: expected one of 'circle', 'box'"):
        pg.make_scene([pg.ObjectSpec("triangle", (10.0, 10.0), (5.0, 5.0), (1.0, 0.0, 0.0))])
    with pytest.raises(ValueError, match="mask: expected at least 4 foreground pixels"):
        pg.fit_primitive(np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match="features: expected one of 'chromaticity', 'rgb'"):
        pg.segment(np.zeros((32, 32, 3)), features="hsv")
    w = pg.world_from(perception, (128, 192))
    with pytest.raises(ValueError, match=r"push.target: expected an object index in \[0, 4\)"):
        rb.simulate(w, [rb.Push(7, (1.0, 0.0))])
    with pytest.raises(ValueError, match="push.target: expected the index of a circle"):
        rb.predict_first_hit(perception.primitives, rb.Push(0, (1.0, 0.0)), (128, 192))
    with pytest.raises(ValueError, match="controls: expected a non-empty mapping"):
        pg.run(controls={})
    with pytest.raises(ValueError, match="condition: expected one of 'code', 'printed'"):
        pg.refine(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), pg.GaussianVideoPrior(np.zeros((2, 4, 4)), np.ones((4, 4))),
                  condition="t <= T - delta")
