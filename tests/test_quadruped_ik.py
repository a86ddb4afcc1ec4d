"""Tests for minimal_impls/quadruped_ik.py: unit checks, the paper's claims on the toy, the common
mistakes of papers/quadruped-ik.md (each applied, each caught), bad input."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from conftest import claim

from minimal_impls import quadruped_ik as qik

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import ik_timing  # noqa: E402  (the timing harness and the scalar path live in bench/, not the reference file)

ROBOT = qik.Robot()
DEG = math.pi / 180
F64 = torch.float64
SLUG = "quadruped-ik"


@pytest.fixture(scope="module")
def results() -> dict[str, float]:
    # Smaller than the notebook's run, same code path, on the CPU.
    return qik.run(n_targets=400, n_numeric=100, device="cpu")


@pytest.fixture(scope="module")
def reachable() -> tuple[torch.Tensor, torch.Tensor]:
    return qik.sample_reachable(ROBOT, 1000, seed=1)


def random_angles(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 4, 3, generator=g, dtype=F64) - 0.5) * 2 * math.pi


def fk_error(angles: torch.Tensor, feet: torch.Tensor) -> torch.Tensor:
    return (qik.leg_fk(ROBOT, angles) - feet).norm(dim=-1)


# --- unit checks ---------------------------------------------------------------------------------

def test_rotations_are_proper_and_match_eqs_1_to_3() -> None:
    a = torch.linspace(-3, 3, 7, dtype=F64)
    for rot in (qik.rot_x, qik.rot_y, qik.rot_z):
        r = rot(a)
        assert r.shape == (7, 3, 3)
        torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=F64).expand(7, 3, 3))
        torch.testing.assert_close(torch.linalg.det(r), torch.ones(7, dtype=F64))
    quarter = torch.tensor(math.pi / 2, dtype=F64)
    e = torch.eye(3, dtype=F64)
    torch.testing.assert_close(qik.rot_x(quarter) @ e[1], e[2])   # roll takes up (y) to the right (z)
    torch.testing.assert_close(qik.rot_y(quarter) @ e[2], e[0])   # yaw takes right (z) to forward (x)
    torch.testing.assert_close(qik.rot_z(quarter) @ e[0], e[1])   # pitch takes forward (x) to up (y)


def test_rotation_order_matters_only_for_compound_rotations() -> None:
    w, p, s = (torch.tensor(v * DEG, dtype=F64) for v in (15.0, 20.0, 10.0))
    r_xyz, r_zyx = qik.body_rotation(w, p, s, "xyz"), qik.body_rotation(w, p, s, "zyx")
    torch.testing.assert_close(r_xyz, qik.rot_x(w) @ qik.rot_y(p) @ qik.rot_z(s))   # eq. (4)
    assert (r_xyz - r_zyx).abs().max() > 0.05
    zero = torch.tensor(0.0, dtype=F64)
    torch.testing.assert_close(qik.body_rotation(w, zero, zero, "xyz"), qik.body_rotation(w, zero, zero, "zyx"))


def test_hip_frames_follow_eqs_6_to_9_in_leg_order() -> None:
    hips = qik.hip_offsets(ROBOT)
    L, W = ROBOT.length, ROBOT.width
    # leg 1 right back (6), leg 2 right front (7), leg 3 left front (8), leg 4 left back (9)
    expected = torch.tensor([[-L / 2, 0, W / 2], [L / 2, 0, W / 2], [L / 2, 0, -W / 2], [-L / 2, 0, -W / 2]],
                            dtype=F64)
    torch.testing.assert_close(hips[:, :3, 3], expected)
    side = torch.tensor(qik.SIDE, dtype=F64)
    # Rotations: Ry(+pi/2) on the right, Ry(-pi/2) on the left, as printed in eqs. (6)-(9).
    torch.testing.assert_close(hips[:, :3, :3], qik.rot_y(side * math.pi / 2), rtol=0, atol=1e-15)
    # So x0 points to the centre line, y0 up, z0 forward on the right and backward on the left.
    torch.testing.assert_close(hips[:, :3, 0], torch.stack([0 * side, 0 * side, -side], -1))
    torch.testing.assert_close(hips[:, :3, 2], torch.stack([side, 0 * side, 0 * side], -1))


def test_dh_chain_matches_the_written_out_foot_position() -> None:
    q = random_angles(64)
    t1, t2, t3 = q.unbind(-1)
    a = ROBOT.l2 * torch.cos(t2) + ROBOT.l3 * torch.cos(t2 + t3)
    b = ROBOT.l2 * torch.sin(t2) + ROBOT.l3 * torch.sin(t2 + t3)
    expected = torch.stack([-ROBOT.l1 * torch.cos(t1) + a * torch.sin(t1),
                            -ROBOT.l1 * torch.sin(t1) - a * torch.cos(t1), b], -1)
    torch.testing.assert_close(qik.leg_fk(ROBOT, q), expected, rtol=0, atol=1e-15)
    chain = qik.leg_chain(ROBOT, q)
    rot = chain[..., :3, :3]
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), torch.eye(3, dtype=F64).expand_as(rot))
    origins = chain[..., :3, 3]
    lengths = (origins[..., 1:, :] - origins[..., :-1, :]).norm(dim=-1)
    torch.testing.assert_close(lengths, torch.tensor([ROBOT.l1, 0.0, ROBOT.l2, ROBOT.l3],
                                                     dtype=F64).expand_as(lengths))


def test_geometric_jacobian_matches_autograd() -> None:
    q = random_angles(1, seed=3)[0, 1]
    auto = torch.autograd.functional.jacobian(lambda x: qik.leg_fk(ROBOT, x), q)
    torch.testing.assert_close(qik.leg_jacobian(ROBOT, q), auto, rtol=0, atol=1e-12)


def test_standing_pose_front_knees_back_hind_knees_forward() -> None:
    pose = torch.tensor([0, 0, 0, 0, 0.18, 0], dtype=F64)
    feet = qik.standing_feet(ROBOT)
    q = qik.body_ik(ROBOT, pose, feet)
    torch.testing.assert_close(q[:, 0], torch.zeros(4, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(q[2, 1:], -q[1, 1:])           # left front = mirror of right front
    torch.testing.assert_close(q[3, 1:], -q[0, 1:])           # left back = mirror of right back
    torch.testing.assert_close(q[0, 1:], -q[1, 1:])           # eq. (17): legs 1, 3 vs 2, 4
    points = qik.robot_points(ROBOT, pose, q)                  # (4 legs, hip/shoulder/knee/foot, 3)
    knee_ahead = points[:, 2, 0] > points[:, 1, 0]
    assert knee_ahead.tolist() == [True, False, False, True]  # hind knees forward, front knees back
    assert qik.knee_direction(ROBOT, q).tolist() == [-1.0, 1.0, 1.0, -1.0]
    torch.testing.assert_close(points[:, 3], feet, rtol=0, atol=1e-15)


def test_body_ik_is_invariant_to_moving_body_and_feet_together() -> None:
    feet = qik.standing_feet(ROBOT)
    base = qik.body_ik(ROBOT, torch.tensor([0.1, 0, 0.05, 0.01, 0.17, 0], dtype=F64), feet)
    shift = torch.tensor([0.3, 0.02, -0.1], dtype=F64)
    moved = qik.body_ik(ROBOT, torch.tensor([0.1, 0, 0.05, 0.31, 0.19, -0.1], dtype=F64), feet + shift)
    torch.testing.assert_close(moved, base, rtol=0, atol=1e-12)
    yaw = 0.7
    rotated = (qik.rot_y(torch.tensor(yaw, dtype=F64)) @ feet[..., None])[..., 0]
    level = qik.body_ik(ROBOT, torch.tensor([0, 0, 0, 0, 0.17, 0], dtype=F64), feet)
    turned = qik.body_ik(ROBOT, torch.tensor([0, yaw, 0, 0, 0.17, 0], dtype=F64), rotated)
    torch.testing.assert_close(turned, level, rtol=0, atol=1e-12)


def test_single_target_path_agrees_with_the_batched_path(reachable) -> None:
    _, feet = reachable
    q_any, feet_any = qik.sample_in_limits(ROBOT, 100, seed=5)
    for targets in (feet[:50], feet_any):
        batched = qik.leg_ik(ROBOT, targets, check=False)
        for leg in range(1, 5):
            for i in range(0, len(targets), 7):
                t = targets[i, leg - 1]
                one = ik_timing.leg_ik_scalar(ROBOT, t, leg, check=False)     # scalar path (bench)
                as_list = ik_timing.leg_ik_scalar(ROBOT, t.tolist(), leg, check=False)
                torch_one = qik.leg_ik(ROBOT, t, leg=leg, check=False)         # torch path, one target
                torch.testing.assert_close(torch_one.angles, one.angles, rtol=0, atol=1e-12)
                torch.testing.assert_close(one.angles, batched.angles[i, leg - 1], rtol=0, atol=1e-12)
                torch.testing.assert_close(as_list.angles, one.angles)
                assert bool(one.legal) == bool(batched.legal[i, leg - 1])
                assert bool(one.reachable) == bool(batched.reachable[i, leg - 1])


def test_every_branch_reaches_the_foot_and_the_caller_chooses() -> None:
    target = qik.leg_fk(ROBOT, torch.tensor([0.1, -0.3, 1.2], dtype=F64))      # leg 2 (right front)
    sols = {}
    for knee in ("back", "forward"):
        for hip in ("below", "above"):
            res = qik.leg_ik(ROBOT, target, leg=2, knee=knee, hip=hip, check=False, fallback=False)
            assert fk_error(res.angles, target) < 1e-12                        # all four are solutions
            sols[knee, hip] = res.angles
    assert len({tuple(v.round(decimals=6).tolist()) for v in sols.values()}) == 4   # and distinct
    # "back" on the right legs is eq. (17)'s + sign, "forward" its - sign, in any target
    assert sols["back", "below"][2] > 0 and sols["forward", "below"][2] < 0
    torch.testing.assert_close(sols["back", "below"], qik.leg_ik(ROBOT, target, leg=2))
    # "paper" on leg 1 (right back) is the forward knee
    torch.testing.assert_close(qik.leg_ik(ROBOT, target, leg=1, check=False, fallback=False).angles,
                               sols["forward", "below"])
    # knee_direction reads the same choice from geometry
    q4 = torch.stack([sols["forward", "below"], sols["back", "below"], sols["back", "below"], sols["back", "below"]])
    assert qik.knee_direction(ROBOT, q4)[:2].tolist() == [-1.0, 1.0]


def test_fallback_returns_the_other_legal_solution_before_raising() -> None:
    # A configuration within the limits with the foot above the shoulder line: the paper's branch
    # (foot below) needs a shoulder angle beyond its limit, the other hip branch is legal.
    q_any, feet_any = qik.sample_in_limits(ROBOT, 400, seed=3)
    paper = qik.leg_ik(ROBOT, feet_any, check=False, fallback=False)
    assert (~paper.legal).any()
    solved = qik.leg_ik(ROBOT, feet_any)                        # does not raise
    assert fk_error(solved, feet_any).max() < 1e-9
    limits = ROBOT.limits()
    assert ((solved >= limits[..., 0] - 1e-9) & (solved <= limits[..., 1] + 1e-9)).all()
    i = tuple(int(v) for v in (~paper.legal).nonzero()[0])
    with pytest.raises(ValueError, match=r"beyond its limits"):
        qik.leg_ik(ROBOT, feet_any[i[0], i[1]], leg=i[1] + 1, fallback=False)


def test_check_false_flags_unreachable_targets_instead_of_returning_a_pose() -> None:
    far = torch.tensor([-ROBOT.l1, -(ROBOT.l2 + ROBOT.l3 + 0.02), 0.0], dtype=F64)   # 2 cm out of reach
    inside = torch.zeros(3, dtype=F64)                                              # inside the hip offset
    ok = qik.leg_fk(ROBOT, torch.tensor([0.0, -0.4, 1.0], dtype=F64))
    batch = torch.stack([far, inside, ok])
    for res in [qik.leg_ik(ROBOT, batch, leg=2, check=False)] + [qik.leg_ik(ROBOT, t, leg=2, check=False)
                                                                  for t in batch]:
        assert res.reachable.tolist() in ([False, False, True], False, True)
    res = qik.leg_ik(ROBOT, batch, leg=2, check=False)
    assert res.reachable.tolist() == [False, False, True] and res.legal.tolist() == [False, False, True]
    assert torch.isnan(res.angles[:2]).all() and fk_error(res.angles[2], ok) < 1e-12


def test_reach_mask_has_no_false_alarms_and_misses_nothing() -> None:
    feet, truly_out = qik.sample_box(ROBOT, 500, seed=4)
    assert (~qik.reachable(ROBOT, feet) == truly_out).all()


def test_numeric_ik_wraps_angles_when_unclamped() -> None:
    _, feet = qik.sample_reachable(ROBOT, 100, seed=0)
    free = qik.numeric_ik(ROBOT, feet, clamp=False)
    assert free.angles.abs().max() <= math.pi + 1e-12
    wound = qik.numeric_ik(ROBOT, feet, clamp=False, wrap=False)
    assert wound.angles.abs().max() > 4 * math.pi                 # without wrapping they wind up
    # wrapping changes nothing physical: same feet, same knee geometry
    torch.testing.assert_close(qik.leg_fk(ROBOT, qik._wrap(wound.angles)), qik.leg_fk(ROBOT, wound.angles))


def test_knee_flip_count_by_sine_matches_geometry() -> None:
    _, feet = qik.sample_reachable(ROBOT, 100, seed=0)
    paper_dir = qik.knee_direction(ROBOT, qik.leg_ik(ROBOT, feet))
    for wrap in (True, False):
        free = qik.numeric_ik(ROBOT, feet, clamp=False, wrap=wrap)
        # Where the foot stays below the shoulder line (the paper's hip branch), "the other sign of
        # eq. (17)" and "the knee points the other way" are the same statement.
        t2, t3 = free.angles[..., 1], free.angles[..., 2]
        below = free.converged & (ROBOT.l2 * torch.cos(t2) + ROBOT.l3 * torch.cos(t2 + t3) > 0)
        geometric = below & (qik.knee_direction(ROBOT, free.angles) != paper_dir)
        expected = float(geometric.sum() / below.sum())
        assert qik.knee_flip_fraction(free.angles, below) == pytest.approx(expected)


def test_trot_plants_stance_feet_and_alternates_diagonal_pairs() -> None:
    poses, feet = qik.trot(ROBOT, n_frames=24)
    lifted = feet[..., 1] > 0
    assert (lifted[:, 0] == lifted[:, 2]).all() and (lifted[:, 1] == lifted[:, 3]).all()  # pairs (1,3), (2,4)
    assert not (lifted[:, 0] & lifted[:, 1]).any()
    stance = ~lifted[1:] & ~lifted[:-1]
    step = (feet[1:] - feet[:-1]).norm(dim=-1)
    assert step[stance].max() < 1e-12
    assert poses[-1, 3] > poses[0, 3]


def test_least_squares_baseline_solves_the_same_problem(reachable) -> None:
    angles, feet = reachable
    q = ik_timing.least_squares_ik(ROBOT, feet[0, 1].numpy(), leg=2)
    assert fk_error(torch.as_tensor(q), feet[0, 1]) < 1e-8


# --- claims: thresholds read from papers/quadruped-ik.md -----------------------------------------

def verdict(results: dict[str, float], metric: str) -> None:
    c = claim(SLUG, metric)
    assert c.holds(results[metric]), (metric, results[metric])
    if c.control:
        assert not c.holds(results[c.control]), (c.control, results[c.control])


# every claim of papers/quadruped-ik.md with its control, by name (a static check greps for both)
CLAIMS = [("fk_ik_max_error_m", "printed_eq15_foot_error_m"),
          ("in_limit_solved_fraction", "paper_branch_only_solved_fraction"),
          ("unreachable_flagged_fraction", "d_only_flagged_fraction"),
          ("planted_max_error_m", "order_mismatch_planted_error_m"),
          ("table3_theta1_max_error_deg", "table3_printed_eq15_error_deg"),
          ("unclamped_knee_flip_fraction", "clamped_knee_flip_fraction")]


@pytest.mark.parametrize("metric, control", CLAIMS)
def test_claim_holds_and_its_control_fails(results: dict[str, float], metric: str, control: str) -> None:
    assert claim(SLUG, metric).control == control
    verdict(results, metric)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_claims_hold_on_the_sweep_seeds_at_the_notebooks_size(seed: int) -> None:
    # the notebook's own sizes, at the seeds `paperclub sweep` runs
    results = qik.run(n_targets=2000, n_numeric=250, seed=seed, device="cpu")
    for metric, _ in CLAIMS:
        verdict(results, metric)


def test_closed_form_beats_scipy_on_a_small_run() -> None:
    # Timings are no claim (they depend on the machine: bench/ik_timing.py, docs/performance.md); here
    # only the direction, so a busy CI machine cannot fail it.
    t = ik_timing.timing(n_single=40, n_scipy=6, n_batch=400, repeats=2)
    assert t["single_call_speedup"] > 10 and t["batched_speedup"] > 10
    assert t["single_call_speedup"] > t["torch_single_call_speedup"]


def test_table3_pair_assignment_is_our_inference() -> None:
    # The transcription gives the two |theta1| values but not which pair has which. Nose down (psi < 0)
    # the front hips come closer to their feet, so the front pair {2, 3} gets the larger value; nose up,
    # the back pair does, and the sorted match is just as good. So the assignment is an inference from
    # the sign of psi, which the sorted check cannot confirm.
    down = torch.rad2deg(qik.table3_example()[:, 0].abs())
    up = torch.rad2deg(qik.table3_example(pitch_deg=15.0)[:, 0].abs())
    assert down[1] > down[0] and up[0] > up[1]                        # front larger nose down, back nose up
    assert qik.table3_theta1_error_deg(qik.table3_example(pitch_deg=15.0)) <= 1e-3


def test_table3_example_matches_the_paper_magnitudes() -> None:
    angles = qik.table3_example()
    mag = torch.rad2deg(angles[:, 0].abs())
    assert mag[0] == pytest.approx(mag[3]) and mag[1] == pytest.approx(mag[2])     # pairs {1,4}, {2,3}
    assert sorted([round(float(mag[0]), 4), round(float(mag[1]), 4)]) == list(qik.TABLE3_THETA1_DEG)


# --- common mistakes: each applied, each caught ---------------------------------------------------

def test_mistake_printed_eq15_sign(reachable) -> None:
    _, feet = reachable
    solved = qik.leg_ik(ROBOT, feet)
    wrong = torch.cat([qik.printed_eq15(ROBOT, feet)[..., None], solved[..., 1:]], -1)
    c = claim(SLUG, "fk_ik_max_error_m")
    assert c.holds(float(fk_error(solved, feet).max()))
    assert not c.holds(float(fk_error(wrong, feet).max()))


def test_mistake_knee_sign_without_wrapping() -> None:
    _, feet = qik.sample_reachable(ROBOT, 200, seed=0)
    wound = qik.numeric_ik(ROBOT, feet, clamp=False, wrap=False)        # the mistake: no wrapping
    paper_dir = qik.knee_direction(ROBOT, qik.leg_ik(ROBOT, feet))
    t2, t3 = wound.angles[..., 1], wound.angles[..., 2]
    below = wound.converged & (ROBOT.l2 * torch.cos(t2) + ROBOT.l3 * torch.cos(t2 + t3) > 0)
    truth = float((below & (qik.knee_direction(ROBOT, wound.angles) != paper_dir)).sum() / below.sum())
    raw = qik.knee_flip_fraction(wound.angles, below, by="raw")         # and counting by the sign
    assert abs(raw - truth) > 0.02                                     # the raw count is wrong
    assert qik.knee_flip_fraction(wound.angles, below) == pytest.approx(truth)
    c = claim(SLUG, "unclamped_knee_flip_fraction")
    assert c.holds(truth)


def test_mistake_only_the_papers_branch() -> None:
    q_any, feet_any = qik.sample_in_limits(ROBOT, 500, seed=7)
    c = claim(SLUG, "in_limit_solved_fraction")

    def solved_fraction(fallback: bool) -> float:
        res = qik.leg_ik(ROBOT, feet_any, check=False, fallback=fallback)
        ok = res.legal & (fk_error(res.angles, feet_any) <= 1e-9)
        return float(ok.double().mean())

    assert c.holds(solved_fraction(True))
    assert not c.holds(solved_fraction(False))


def test_mistake_reach_check_only_d() -> None:
    feet, truly_out = qik.sample_box(ROBOT, 500, seed=2)
    c = claim(SLUG, "unreachable_flagged_fraction")
    share = lambda flagged: float((flagged & truly_out).sum() / truly_out.sum())  # noqa: E731
    assert c.holds(share(~qik.reachable(ROBOT, feet)))
    assert not c.holds(share(qik.d_only_unreachable(ROBOT, feet)))


def test_mistake_rotation_order() -> None:
    feet = qik.standing_feet(ROBOT)
    sweep = qik.body_sweep(torch.linspace(0, 2 * math.pi, 25, dtype=F64))
    c = claim(SLUG, "planted_max_error_m")
    for order, should_hold in (("xyz", True), ("zyx", False)):
        q = qik.body_ik(ROBOT, sweep, feet, order=order, check=False).angles    # IK in one order...
        drift = (qik.robot_points(ROBOT, sweep, q)[..., 3, :] - feet).norm(dim=-1).max()   # ...robot in xyz
        assert c.holds(float(drift)) is should_hold


def test_mistake_silent_clamp(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old check=False: clamp D and A^2, return a pose, flag nothing. The paper's check
    'FK(IK(p)) = p wherever IK answers' then fails on a target 2 cm out of reach."""
    far = torch.tensor([[-ROBOT.l1, -(ROBOT.l2 + ROBOT.l3 + 0.02), 0.0]], dtype=F64)
    c = claim(SLUG, "fk_ik_max_error_m")

    def answered_error() -> float:
        res = qik.leg_ik(ROBOT, far, leg=2, check=False)
        errs = fk_error(res.angles[res.reachable], far[res.reachable])
        return float(errs.max()) if len(errs) else 0.0

    assert c.holds(answered_error())
    monkeypatch.setattr(qik, "reachable", lambda robot, foot, tol=1e-12: torch.ones(foot.shape[:-1], dtype=torch.bool))
    assert not c.holds(answered_error())                              # 2 cm off, and nothing said


# --- bad input -----------------------------------------------------------------------------------

def test_out_of_reach_names_the_leg_and_the_distance() -> None:
    far = torch.tensor([-ROBOT.l1, -(ROBOT.l2 + ROBOT.l3 + 0.01), 0.0], dtype=F64)
    with pytest.raises(ValueError, match=r"leg 2 \(right front\): target .* out of reach by 10\.00 mm"):
        qik.leg_ik(ROBOT, far, leg=2)
    with pytest.raises(ValueError, match=r"leg 3 \(left front\): .* within 0\.0550 m of the hip axis"):
        qik.leg_ik(ROBOT, torch.zeros(3, dtype=F64), leg=3)
    high = torch.tensor([0, 0, 0, 0, 0.30, 0], dtype=F64)     # body lifted off its feet
    with pytest.raises(ValueError, match=r"leg 1 \(right back\): .* out of reach by .*\(first of 4 unreachable"):
        qik.body_ik(ROBOT, high, qik.standing_feet(ROBOT))


def test_joint_limits_name_the_leg_joint_and_excess() -> None:
    foot = qik.leg_fk(ROBOT, torch.tensor([80 * DEG, -30 * DEG, 60 * DEG], dtype=F64))
    with pytest.raises(ValueError, match=r"leg 4 \(left back\): hip angle 80\.0 deg is 20\.0 deg beyond .*"
                                         r"no other solution"):
        qik.leg_ik(ROBOT, foot, leg=4)
    res = qik.leg_ik(ROBOT, foot, leg=4, check=False)
    assert res.angles[0] == pytest.approx(80 * DEG) and bool(res.reachable) and not bool(res.legal)


@pytest.mark.parametrize("call, match", [
    (lambda: qik.leg_ik(ROBOT, torch.zeros(5, 3)), r"foot: expected shape \(\.\.\., 4, 3\)"),
    (lambda: qik.leg_ik(ROBOT, torch.zeros(2), leg=1), r"foot: expected shape \(\.\.\., 3\), got \(2,\)"),
    (lambda: qik.leg_ik(ROBOT, torch.zeros(3), leg=5), r"leg: expected 1, 2, 3 or 4"),
    (lambda: qik.leg_ik(ROBOT, torch.tensor([float("nan"), 0, 0]), leg=1), r"foot: expected finite"),
    (lambda: qik.leg_ik(ROBOT, [0.0, float("inf"), 0.0], leg=1), r"foot: expected finite"),
    (lambda: qik.leg_ik(ROBOT, [0.0, -0.2, 0.0], leg=1, knee="up"), r"knee: expected one of 'paper'"),
    (lambda: qik.leg_ik(ROBOT, torch.zeros(4, 3), hip="side"), r"hip: expected one of 'below', 'above'"),
    (lambda: qik.body_ik(ROBOT, torch.zeros(5), qik.standing_feet(ROBOT)), r"pose: expected shape \(\.\.\., 6\)"),
    (lambda: qik.body_ik(ROBOT, torch.zeros(6), torch.zeros(3, 3)), r"feet: expected shape \(\.\.\., 4, 3\)"),
    (lambda: qik.body_rotation(0.0, 0.0, 0.0, order="xxz"), r"order: expected a permutation of 'xyz'"),
    (lambda: qik.Robot(l2=-0.1), r"l2: expected a positive number, got -0\.1"),
    (lambda: qik.Robot(knee_limits=(1.0, 0.0)), r"knee_limits: expected \(low, high\) with low < high"),
    (lambda: qik.numeric_ik(ROBOT, torch.zeros(4, 3), max_iter=0), r"max_iter: expected a positive integer"),
    (lambda: qik.numeric_ik(ROBOT, torch.zeros(4, 3), damping=-1.0), r"damping: expected a positive number"),
    (lambda: qik.knee_flip_fraction(torch.zeros(4, 3), torch.ones(4, dtype=torch.bool), by="sign"),
     r"by: expected one of 'sine', 'raw'"),
    (lambda: qik.trot(ROBOT, n_frames=1), r"n_frames: expected an integer >= 2"),
    (lambda: qik.sample_reachable(ROBOT, 0), r"n: expected a positive integer"),
    (lambda: qik.run(n_targets=4, n_numeric=0), r"n_numeric: expected a positive integer"),
])
def test_bad_input_raises_one_line_value_error(call, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
