"""Tests for minimal_impls/rigid_body.py: contacts, the solver, and closed forms of mechanics.

The paper-level claims (and the common mistakes they catch) are in tests/test_physgen.py; these
are the engine's own unit checks, with honest names and their own tolerances.
"""
from __future__ import annotations

import numpy as np
import pytest

from minimal_impls import rigid_body as rb


def world_of(*bodies: tuple[rb.Primitive, rb.Material], size=(200, 300), gravity=rb.GRAVITY, **kw) -> rb.World:
    return rb.make_world([p for p, _ in bodies], [m for _, m in bodies], size, gravity=gravity, **kw)


# --- bodies and contacts --------------------------------------------------------------------------

def test_inertia_of_disc_and_box() -> None:
    w = world_of(rb.body("circle", (50, 50), (20, 20), density=2.0), rb.body("box", (150, 50), (30, 10)))
    m = w.mass
    np.testing.assert_allclose(m, [2.0 * np.pi * 100, 300.0])
    np.testing.assert_allclose(w.inertia, [0.5 * m[0] * 100, m[1] * (900 + 100) / 12])


def test_box_box_contact_depth_and_normal() -> None:
    w = world_of(rb.body("box", (100, 100), (20, 20)), rb.body("box", (118, 100), (20, 20)), gravity=0.0)
    c = rb.detect_contacts(w)
    pair = c.b >= 0
    assert pair.sum() == 2                                   # a face-to-face contact has two points
    np.testing.assert_allclose(c.depth[pair], 2.0, atol=1e-9)
    np.testing.assert_allclose(c.normal[pair], [[1.0, 0.0]] * 2, atol=1e-9)


def test_box_circle_contact() -> None:
    w = world_of(rb.body("box", (100, 100), (20, 20)), rb.body("circle", (100, 80), (24, 24)), gravity=0.0)
    c = rb.detect_contacts(w)
    (i,) = np.flatnonzero(c.b >= 0)
    np.testing.assert_allclose(c.normal[i], [0.0, -1.0], atol=1e-9)      # from the box up to the ball
    assert abs(c.depth[i] - 2.0) < 1e-9


def test_time_of_impact_of_a_falling_ball_is_the_parabola_root() -> None:
    """gap + v t + a t^2 / 2 = 0: the ball 2 px above the floor, falling at 300 px/s."""
    w = world_of(rb.body("circle", (100, 188), (20, 20), restitution=0.8), wall_restitution=1.0)
    w.vel[0] = [0.0, 300.0]
    c = rb.detect_contacts(w, margin=5.0)
    kin = rb._kinematics(w, c, np.array([[0.0, rb.GRAVITY]]))
    floor = c.b == -1
    t = rb.time_of_impact(c, kin, 0.1, bounce_speed=10.0, touch=1e-3)
    assert abs(2.0 - 300.0 * t - 0.5 * rb.GRAVITY * t * t) < 1e-9 and floor.any()


# --- the solver -------------------------------------------------------------------------------------

def test_step_leaves_no_overlap_beyond_tolerance() -> None:
    w = world_of(rb.body("box", (100, 185), (30, 30)), rb.body("box", (126, 185), (30, 30), angle=0.1),
                 rb.body("circle", (160, 190), (20, 20)))
    assert rb.detect_contacts(w).depth.max() > 3.0
    rb.step(w)
    assert rb.detect_contacts(w).depth.max() <= 0.1


def test_resting_bodies_stay_at_rest() -> None:
    w = world_of(rb.body("box", (60, 190), (22, 20), density=4.0, friction=0.4),
                 rb.body("circle", (150, 188), (24, 24)))
    start = w.pos.copy()
    traj = rb.simulate(w, duration=1.0)
    assert np.abs(traj.pos - start).max() < 1e-3 and np.abs(traj.angle).max() < 1e-5


def test_a_stack_of_two_boxes_stands() -> None:
    w = world_of(rb.body("box", (100, 189), (22, 22), density=4.0), rb.body("box", (100, 167), (22, 22)))
    start = w.pos.copy()
    traj = rb.simulate(w, duration=1.0)
    assert np.abs(traj.pos - start).max() < 0.05


def test_equal_masses_swap_velocities_in_elastic_head_on_collision() -> None:
    a = rb.body("circle", (100, 100), (20, 20), friction=0.0, restitution=1.0)
    b = rb.body("circle", (150, 100), (20, 20), friction=0.0, restitution=1.0)
    w = world_of(a, b, gravity=0.0)
    w.vel[:] = [[120.0, 0.0], [0.0, 0.0]]
    rb.simulate(w, duration=0.5)
    np.testing.assert_allclose(w.vel, [[0.0, 0.0], [120.0, 0.0]], atol=1e-6)


# --- closed forms --------------------------------------------------------------------------------

def test_free_flight_is_exact_and_semi_implicit_euler_is_first_order() -> None:
    assert rb.projectile()["max_error"] < 1e-6
    coarse = rb.projectile(flight="euler")["max_error"]
    fine = rb.projectile(flight="euler", dt=rb.DT / 2)["max_error"]
    assert abs(coarse - rb.GRAVITY * rb.DT / 2) < 1e-6                 # g dt t / 2 at t = 1 s
    assert 1.99 < coarse / fine < 2.01


def test_collision_conserves_linear_and_angular_momentum() -> None:
    out = rb.collision()
    assert out["collided"] and out["speed_change"] > 50
    assert out["linear_error"] < 1e-9 and out["angular_error"] < 1e-9


@pytest.mark.parametrize("dt", [rb.DT, 1 / 60])
def test_bounce_apexes_follow_e_to_the_2n(dt: float) -> None:
    """At our dt and at the authors' 1/60 s, three apexes within 0.5 % of e^(2n) h."""
    out = rb.drop(restitution=0.8, height=200.0, dt=dt)
    assert len(out["apexes"]) == 3 and np.abs(out["rel_error"]).max() < 0.005


def test_elastic_ball_keeps_its_height() -> None:
    out = rb.drop(restitution=1.0, height=80.0, n_bounces=2)
    np.testing.assert_allclose(out["apexes"], 80.0, rtol=1e-3)


def test_sliding_box_stops_after_v0_squared_over_2_mu_g() -> None:
    out = rb.slide(speed=300.0, friction=0.5, ground_friction=0.6)
    assert abs(out["rel_error"]) < 0.01 and out["tilt"] < 1e-3
    assert abs(out["speed"][-1]) < 1e-9                                 # and it stays stopped


def test_sliding_disc_rolls_at_two_thirds_speed_for_any_mu() -> None:
    for mu in (0.2, 0.9):
        out = rb.rolling(friction=mu)
        assert abs(out["speed_ratio"] - 2 / 3) < 0.01 and out["slip"] < 1e-6


# --- bad input ------------------------------------------------------------------------------------

def test_bad_inputs_raise_one_line_errors() -> None:
    w = world_of(rb.body("circle", (50, 50), (20, 20)))
    with pytest.raises(ValueError, match="dt: expected a positive number"):
        rb.step(w, dt=0.0)
    with pytest.raises(ValueError, match=r"force: expected shape \(1, 2\)"):
        rb.step(w, force=np.zeros(4))
    with pytest.raises(ValueError, match="flight: expected one of 'exact', 'euler'"):
        rb.step(w, flight="rk4")
    with pytest.raises(ValueError, match=r"push.target: expected an object index in \[0, 1\)"):
        rb.simulate(w, [rb.Push(3, (1.0, 0.0))])
    with pytest.raises(ValueError, match="kind: expected one of 'circle', 'box'"):
        rb.body("triangle", (0, 0), (1, 1))
    with pytest.raises(ValueError, match="wall_restitution: expected a number in"):
        rb.make_world(*zip(rb.body("circle", (50, 50), (20, 20))), (100, 100), wall_restitution=2.0)


# --- what the engine reports ------------------------------------------------------------------------

def test_a_body_at_rest_reports_no_motion() -> None:
    """At rest on the floor, energy() and momentum() see no motion (pymunk reports 0 too), while the
    solver still carries the g dt / 2 that the next contact impulse cancels."""
    w = world_of(rb.body("box", (60, 190), (22, 20), density=4.0, friction=0.4),
                 rb.body("circle", (150, 188), (24, 24)))
    traj = rb.simulate(w, duration=0.5)
    assert np.abs(traj.vel[1:]).max() < 1e-9 and np.abs(traj.omega[1:]).max() < 1e-9
    linear, angular = rb.momentum(w)
    assert np.abs(linear).max() < 1e-6 and abs(angular) < 1e-6
    potential = (w.mass * (w.size[0] - w.pos[:, 1]) * rb.GRAVITY).sum()
    assert abs(rb.energy(w) - potential) < 1e-6                         # no kinetic energy
    np.testing.assert_allclose(w.carry[0][:, 1], rb.GRAVITY * rb.DT / 2)  # the solver's own remainder


def test_default_walls_are_the_authors_inelastic_ground() -> None:
    """The authors' default ground elasticity is 0: a ball with e = 0.8 does not bounce off it."""
    ball = rb.body("circle", (100, 100), (20, 20), restitution=0.8)
    assert rb.make_world(*zip(ball), (200, 200)).wall_restitution == 0.0
    w = world_of(ball)
    rb.simulate(w, duration=0.6)
    assert abs(w.vel[0, 1]) < 1e-6 and w.pos[0, 1] > 189.0               # landed and stayed
    out = rb.drop(restitution=0.8)                                       # drop() asks for e_ground = 1
    assert len(out["apexes"]) == 3


def test_semi_implicit_euler_at_the_authors_step_is_four_times_worse() -> None:
    """At the authors' dt = 1/60 s (Pymunk) the parabola error g dt t / 2 is 8.17 px after 1 s."""
    err = rb.projectile(flight="euler", dt=1 / 60)["max_error"]
    assert abs(err - rb.GRAVITY / 120) < 1e-6
    assert rb.projectile(dt=1 / 60)["max_error"] < 1e-6
