"""Tests of minimal_impls/optical_flow_odometry.py: units, the paper's claims on the toy, bad input."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from conftest import claim
from minimal_impls import optical_flow_odometry as ofo
from scipy.linalg import expm

SLUG = "optical-flow-odometry"
PHI = np.radians(30.0)
SHORT = ofo.FlightConfig(duration=24.0)  # 6.7 oscillation periods: enough for every claim, fast


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return ndimage.gaussian_filter(data.camera().astype(float) / 255.0, 1.0)


# ---------------------------------------------------------------------------------------------------
# Lucas–Kanade
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dx, dy", [(0.37, -0.62), (2.3, 1.7), (-4.6, 3.2)])
def test_lucas_kanade_recovers_known_subpixel_translation(camera: np.ndarray, dx: float, dy: float) -> None:
    # img1(x + u) = img0(x): shifting the content by (dx, dy) is a flow of (dx, dy).
    shifted = ndimage.shift(camera, (dy, dx), order=3, mode="nearest")
    a, b = camera[200:264, 200:264], shifted[200:264, 200:264]
    flow, ok = ofo.lucas_kanade(a, b, levels=3, iterations=5)
    assert ok
    np.testing.assert_allclose(flow, [dx, dy], atol=0.02)


def test_lucas_kanade_dense_field_recovers_translation(camera: np.ndarray) -> None:
    shifted = ndimage.shift(camera, (0.8, -1.3), order=3, mode="nearest")
    flow, ok = ofo.lucas_kanade(camera[150:214, 150:214], shifted[150:214, 150:214], window=11, levels=2)
    assert flow.shape == (64, 64, 2) and ok.shape == (64, 64)
    np.testing.assert_allclose(np.nanmedian(flow[ok], axis=0), [-1.3, 0.8], atol=0.05)


def test_large_motion_is_measured_with_levels_from_max_motion_or_flagged(camera: np.ndarray) -> None:
    shifted = ndimage.shift(camera, (0.0, 6.0), order=3, mode="nearest")
    a, b = camera[200:264, 200:264], shifted[200:264, 200:264]
    deep, ok = ofo.lucas_kanade(a, b, max_motion=6.0)              # 4 levels: 6 px → 0.75 px at the top
    assert ok and abs(deep[0] - 6.0) < 0.05
    one, ok1 = ofo.lucas_kanade(a, b, levels=1)                   # no pyramid: out of reach
    assert not ok1 and np.all(np.isnan(one))
    assert ofo.pyramid_levels(2.0, 64) == 2 and ofo.pyramid_levels(6.0, 64) == 4 and ofo.pyramid_levels(8.0, 16) == 2


def test_textureless_patch_is_unreliable_not_zero_flow() -> None:
    flat = np.full((32, 32), 0.5)
    flow, ok = ofo.lucas_kanade(flat, flat)
    assert not ok and np.all(np.isnan(flow))
    # An edge only (the aperture problem): motion along the edge is unknowable, so also unreliable.
    ramp = np.tile(np.linspace(0.0, 1.0, 32), (32, 1))
    flow, ok = ofo.lucas_kanade(ramp, np.roll(ramp, 1, axis=1))
    assert not ok and np.all(np.isnan(flow))


def test_reliability_does_not_depend_on_the_brightness_scale(camera: np.ndarray) -> None:
    # The texture test is relative to the image's intensity variance: 0–1 floats and 0–255 values agree.
    shifted = ndimage.shift(camera, (0.8, -1.3), order=3, mode="nearest")
    a, b = camera[150:214, 150:214], shifted[150:214, 150:214]
    ok1 = ofo.lucas_kanade(a, b, window=11, levels=2)[1]
    ok255 = ofo.lucas_kanade(255 * a, 255 * b, window=11, levels=2)[1]
    np.testing.assert_array_equal(ok1, ok255)
    assert ok1.mean() > 0.6    # the 0–1 crop keeps its textured pixels (an absolute threshold lost most)
    patches = np.stack([camera[i:i + 32, 100:132] for i in (100, 200, 300)])
    moved = np.stack([shifted[i:i + 32, 100:132] for i in (100, 200, 300)])
    for k in (1 / 255, 255.0):
        np.testing.assert_array_equal(ofo.lucas_kanade(k * patches, k * moved)[1], ofo.lucas_kanade(patches, moved)[1])


def brick_confidently_wrong(**kw) -> float:
    """Share of 32×32 brick-wall patches, shifts 0–10 px, that LK marks reliable while > 0.5 px off."""
    brick = ndimage.gaussian_filter(data.brick().astype(float) / 255.0, 1.0)
    return float(ofo.lk_shift_sweep(brick, np.arange(0.0, 10.5, 1.0), n_patches=100, levels=2, **kw)[:, 1].mean())


def test_forward_backward_check_catches_locking_onto_a_repeated_pattern() -> None:
    # Bricks repeat: a window can align with a shifted copy, small residual and strong texture included.
    assert brick_confidently_wrong(forward_backward=None) > 0.03
    assert brick_confidently_wrong() <= 0.005


def test_warp_is_bilinear_sampling_with_repeated_edges() -> None:
    rng = np.random.default_rng(0)
    im = rng.normal(size=(4, 12, 15))
    rows, cols = np.meshgrid(np.arange(12.0), np.arange(15.0), indexing="ij")
    for flow in (rng.uniform(-3, 3, (4, 2)), rng.uniform(-20, 20, (4, 2)), rng.uniform(-3, 3, (4, 12, 15, 2))):
        full = flow if flow.ndim == 4 else np.broadcast_to(flow[:, None, None, :], (4, 12, 15, 2))
        r, c = rows + full[..., 1], cols + full[..., 0]
        idx = np.broadcast_to(np.arange(4.0)[:, None, None], r.shape)
        expected = ndimage.map_coordinates(im, np.stack([idx, r, c]), order=1, mode="nearest")
        warped, inside = ofo._warp(im, flow)
        np.testing.assert_allclose(warped, expected, atol=1e-12)
        np.testing.assert_array_equal(inside, (r >= 0) & (r <= 11) & (c >= 0) & (c <= 14))


def test_lucas_kanade_batch_equals_one_by_one(camera: np.ndarray) -> None:
    shifted = ndimage.shift(camera, (0.3, 0.6), order=3, mode="nearest")
    a = np.stack([camera[i:i + 32, 100:132] for i in (100, 200, 300)])
    b = np.stack([shifted[i:i + 32, 100:132] for i in (100, 200, 300)])
    batch, _ = ofo.lucas_kanade(a, b)
    single = np.stack([ofo.lucas_kanade(x, y)[0] for x, y in zip(a, b)])
    np.testing.assert_allclose(batch, single, atol=1e-12)
    ofo_block = ofo._BLOCK_PIXELS
    try:  # the cache-sized blocks are invisible in the result
        ofo._BLOCK_PIXELS = 1
        np.testing.assert_allclose(ofo.lucas_kanade(a, b)[0], batch, atol=1e-12)
    finally:
        ofo._BLOCK_PIXELS = ofo_block


def dense_error_growth(camera: np.ndarray, **kw) -> float:
    """Mean dense-flow error after 20 iterations divided by that after 1 (camera crop, window 11)."""
    shifted = ndimage.shift(camera, (0.8, -1.3), order=3, mode="nearest")
    a, b = camera[150:214, 150:214], shifted[150:214, 150:214]
    err = [np.nanmean(np.linalg.norm(ofo.lucas_kanade(a, b, window=11, levels=2, iterations=n, max_residual=np.inf,
                                                      forward_backward=None, **kw)[0] - [-1.3, 0.8], axis=-1))
           for n in (1, 20)]
    return float(err[1] / err[0])


def test_dense_lucas_kanade_error_does_not_grow_with_iterations(camera: np.ndarray) -> None:
    assert dense_error_growth(camera) <= 1.05


# ---------------------------------------------------------------------------------------------------
# Geometry and cues
# ---------------------------------------------------------------------------------------------------

def test_ventral_flow_matches_finite_difference_of_the_line_of_sight() -> None:
    rng = np.random.default_rng(1)
    pos, v, h = np.zeros(3), rng.normal(size=3), 1.7
    pos[2] = h
    for az, phi in [(0.0, PHI), (np.pi, PHI), (0.9, 0.4), (-2.0, 0.0)]:
        d, e_a, e_c = ofo._basis(np.asarray(az), np.asarray(phi))
        ground = pos + d * h / -d[2]                        # the ground point on the sensor's axis
        eps = 1e-6
        los = lambda p: (ground - p) / np.linalg.norm(ground - p)  # noqa: E731
        ddot = (los(pos + eps * v) - los(pos - eps * v)) / (2 * eps)
        u, u_perp = np.array([np.cos(az), np.sin(az)]), np.array([-np.sin(az), np.cos(az)])
        expected = -(ddot @ e_a) * u - (ddot @ e_c) * u_perp
        np.testing.assert_allclose(ofo.ventral_flow(v, h, az, phi), expected, atol=1e-7)


def test_two_sensor_cues_are_the_sum_and_difference_formula() -> None:
    rng = np.random.default_rng(2)
    flows = rng.normal(size=(50, 2, 2))
    omega_t, omega_div, var = ofo.optic_flow_cues(flows, np.array(ofo.SENSOR_AZIMUTHS[2]), PHI)
    fwd, aft = flows[:, 0, 0], flows[:, 1, 0]
    np.testing.assert_allclose(omega_t, (fwd + aft) / (2 * np.cos(PHI) ** 2))   # eq. (B)
    np.testing.assert_allclose(omega_div, (fwd - aft) / np.sin(2 * PHI))
    np.testing.assert_allclose(var, 2 / np.sin(2 * PHI) ** 2)                   # var of (B) per σ²


@pytest.mark.parametrize("n", [2, 4])
def test_cues_recover_scaled_velocity_exactly_without_noise(n: int) -> None:
    az = np.array(ofo.SENSOR_AZIMUTHS[n])
    v, h = np.array([[1.1, 0.2, -0.3], [0.5, 0.0, 0.4]]), np.array([2.0, 1.3])
    flows = ofo.ventral_flow(v[:, None, :], h[:, None], az, PHI)
    omega_t, omega_div, _ = ofo.optic_flow_cues(flows, az, PHI)
    np.testing.assert_allclose(omega_t, v[:, 0] / h)
    np.testing.assert_allclose(omega_div, v[:, 2] / h)


def test_cues_survive_a_missing_sensor_only_when_the_rest_suffice() -> None:
    az4 = np.array(ofo.SENSOR_AZIMUTHS[4])
    v, h = np.array([0.8, 0.0, 0.25]), 1.6
    flows = ofo.ventral_flow(v, h, az4, PHI)
    flows[0] = np.nan                                           # the fore sensor reports "unreliable"
    omega_t, omega_div, _ = ofo.optic_flow_cues(flows, az4, PHI)
    np.testing.assert_allclose([omega_t, omega_div], [v[0] / h, v[2] / h])
    omega_t, omega_div, var = ofo.optic_flow_cues(flows[:2], az4[:2], PHI)  # 2 sensors, one lost
    assert np.isnan(omega_t) and np.isnan(omega_div) and np.isnan(var)


# ---------------------------------------------------------------------------------------------------
# Simulator, filter and odometers
# ---------------------------------------------------------------------------------------------------

def test_simulated_trajectory_is_self_consistent() -> None:
    f = ofo.simulate_flights(SHORT, 3, np.random.default_rng(0))
    dt = f.t[0, 1]
    for pos, vel, acc in [(f.x, f.vx, f.ax), (f.h, f.vz, f.az)]:
        np.testing.assert_allclose(np.gradient(pos, dt, axis=1)[:, 1:-1], vel[:, 1:-1], atol=2e-3)
        np.testing.assert_allclose(np.gradient(vel, dt, axis=1)[:, 1:-1], acc[:, 1:-1], atol=2e-2)
    assert f.h.min() > 0.5 and np.all(f.vx[:, 0] == 0)


def test_ekf_on_a_linear_measurement_equals_the_linear_kalman_filter() -> None:
    rng = np.random.default_rng(3)
    n, m, steps, dt = 3, 2, 60, 0.1
    a = np.array([[1.0, dt, 0.0], [0.0, 1.0, dt], [0.0, 0.0, 0.97]])
    b = rng.normal(size=(n, 1))
    c = rng.normal(size=(m, n))
    q, r = np.diag([1e-3, 2e-3, 1e-2]), np.diag([0.2, 0.05])
    x0, p0 = rng.normal(size=n), np.eye(n)
    u, z = rng.normal(size=(1, steps, 1)), rng.normal(size=(1, steps, m))
    z[0, 17] = np.nan                                           # a dropped measurement: predict only
    xs, ps = ofo.extended_kalman_filter(u, z, x0, p0, a, b, q, r,
                                        lambda x: x @ c.T, lambda x: np.broadcast_to(c, (len(x), m, n)))
    # The textbook linear Kalman filter, step by step.
    x, p = x0.copy(), p0.copy()
    for k in range(steps):
        if k > 0:
            x, p = a @ x + b @ u[0, k - 1], a @ p @ a.T + q
        if np.all(np.isfinite(z[0, k])):
            gain = p @ c.T @ np.linalg.inv(c @ p @ c.T + r)
            x, p = x + gain @ (z[0, k] - c @ x), (np.eye(n) - gain @ c) @ p
        np.testing.assert_allclose(xs[0, k], x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ps[0, k], p, rtol=1e-8, atol=1e-12)


def test_sofia_with_true_height_and_clean_flow_is_exact_and_imu_without_errors_too() -> None:
    cfg = replace(SHORT, acc_noise=0.0, acc_bias=0.0)
    f = ofo.simulate_flights(cfg, 2, np.random.default_rng(4))
    dt = f.t[0, 1]
    d = ofo.sofia_distance(f.h, f.vx / f.h, dt)
    np.testing.assert_allclose(d[:, -1], f.x[:, -1], rtol=2e-3)
    np.testing.assert_allclose(ofo.imu_distance(f.imu_ax, dt)[:, -1], f.x[:, -1], rtol=5e-3)


def test_run_is_deterministic() -> None:
    a, b = ofo.run(SHORT, n_flights=2, seed=5), ofo.run(SHORT, n_flights=2, seed=5)
    assert a.metrics == b.metrics
    np.testing.assert_array_equal(a.h_hat, b.h_hat)


# ---------------------------------------------------------------------------------------------------
# Claims of the paper, on the toy
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def main_run() -> ofo.RunResult:
    """The notebook's main experiment: 16 default flights, 2 sensors, NPK."""
    return ofo.run(n_flights=16, n_sensors=2, seed=0)


def test_claim_ekf_height_converges_after_the_first_oscillations(main_run) -> None:
    c = claim(SLUG, "height_rel_rms")
    assert c.holds(main_run.metrics["height_rel_rms"])
    assert not c.holds(main_run.metrics["prior_rel_rms"])


def test_claim_sofia_distance(main_run) -> None:
    c = claim(SLUG, "sofia_rel_error")
    assert c.holds(main_run.metrics["sofia_rel_error"]) and not c.holds(main_run.metrics["raw_rel_error"])
    assert main_run.metrics["imu_rel_error"] > 4 * main_run.metrics["sofia_rel_error"]


def test_claim_common_flow_scale_cancels_in_sofia_but_not_in_raw(main_run) -> None:
    c = claim(SLUG, "sofia_scale_sensitivity")
    scaled = {k: ofo.run(n_flights=16, flow_scale=k) for k in (0.8, 1.25)}
    sens = {name: max(float(np.mean(np.abs(r.distances[name][:, -1] / main_run.distances[name][:, -1] - 1)))
                      for r in scaled.values()) for name in ("sofia", "raw")}
    sofia_scale_sensitivity, raw_scale_sensitivity = sens["sofia"], sens["raw"]
    assert c.holds(sofia_scale_sensitivity) and not c.holds(raw_scale_sensitivity)
    for k, r in scaled.items():  # ĥ carries the 1/k
        np.testing.assert_allclose(np.median(r.h_hat[:, -500:] / main_run.h_hat[:, -500:]), 1 / k, rtol=0.02)


@pytest.fixture(scope="module")
def sweep_ends() -> dict[float, ofo.RunResult]:
    """The notebook's amplitude sweep ends: no oscillation and 15 cm (16 flights, NPK, seed 0)."""
    return {a: ofo.run(replace(ofo.FlightConfig(), osc_amplitude=a), n_flights=16) for a in (0.0, 0.15)}


def sigma_ratio(r: ofo.RunResult) -> np.ndarray:
    cfg = r.cfg
    var = np.full(r.flights.h.shape, 2 / np.sin(np.radians(2 * cfg.phi_deg)) ** 2 * cfg.flow_noise**2)
    return ofo.height_std_ratio(r.flights.h, r.flights.vz, var, 1 / cfg.rate, cfg.h_nominal)


def test_claim_without_oscillation_height_is_unobservable(sweep_ends) -> None:
    c = claim(SLUG, "no_oscillation_sigma_ratio")
    no_oscillation_sigma_ratio = float(sigma_ratio(sweep_ends[0.0]).min())
    oscillation_sigma_ratio = float(sigma_ratio(sweep_ends[0.15]).max())
    assert c.holds(no_oscillation_sigma_ratio) and not c.holds(oscillation_sigma_ratio)


def test_height_std_ratio_is_one_when_nothing_moves() -> None:
    h = np.full((2, 500), 2.0)
    ratio = ofo.height_std_ratio(h, 0 * h, np.full(h.shape, 1e-3), 0.02, 2.0)
    np.testing.assert_allclose(ratio, 1.0, atol=1e-3)


def test_claim_ekf_drift_is_a_linearisation_artefact(sweep_ends) -> None:
    c = claim(SLUG, "no_oscillation_inverse_height_nees")
    inv = ofo.run(replace(ofo.FlightConfig(), osc_amplitude=0.0), n_flights=16, inverse_height=True)
    no_oscillation_nees = sweep_ends[0.0].metrics["height_nees"]
    assert c.holds(inv.metrics["height_nees"]) and not c.holds(no_oscillation_nees)
    # The EKF's drift is systematic: every flight climbs.
    assert np.all(sweep_ends[0.0].h_hat[:, -1] > sweep_ends[0.0].flights.h[:, -1])
    # With oscillation the inverse-height filter is as good as the EKF.
    inv_osc = ofo.run(n_flights=16, inverse_height=True)
    assert inv_osc.metrics["height_rel_rms"] <= 1.1 * sweep_ends[0.15].metrics["height_rel_rms"]


def test_claim_prior_knowledge_cleans_the_divergence_cue(main_run) -> None:
    c = claim(SLUG, "prior_fusion_div_error_ratio")
    raw2 = main_run.metrics["div_rms_error"]
    fused = {s: ofo.run(n_flights=16, n_sensors=4, strategy=s).metrics["div_rms_error"] / raw2 for s in ("ppk", "rpk")}
    four_sensor_div_error_ratio = ofo.run(n_flights=16, n_sensors=4).metrics["div_rms_error"] / raw2
    assert c.holds(max(fused.values())) and not c.holds(four_sensor_div_error_ratio)
    np.testing.assert_allclose(four_sensor_div_error_ratio, 1 / np.sqrt(2), rtol=0.03)   # exercise 2


def test_template_fit_recovers_a_noise_free_template() -> None:
    t = np.arange(2000)[None] * 0.02
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(2 * t)], -1)
    y = 0.1 + 0.5 * np.cos(t) - 0.02 * np.sin(2 * t)
    fit = ofo.template_fit(np.where(t % 3 < 0.1, np.nan, y), basis, 3.0, 0.02)       # gaps are skipped
    np.testing.assert_allclose(fit[:, 500:], y[:, 500:], atol=1e-3)   # the ridge: a 1e-4 pull towards 0


def test_claim_three_strategies_on_the_same_flights(main_run) -> None:
    c = claim(SLUG, "strategies_worst_sofia_rel_error")
    worst = max(main_run.metrics["sofia_rel_error"],
                *(ofo.run(n_flights=16, n_sensors=4, strategy=s).metrics["sofia_rel_error"] for s in ("ppk", "rpk")))
    assert c.holds(worst) and not c.holds(main_run.metrics["raw_rel_error"])


def misspecified(flow_factor: float, acc_factor: float) -> float:
    cfg = ofo.FlightConfig()
    return ofo.run(cfg, n_flights=16, assumed_flow_noise=cfg.flow_noise * flow_factor,
                   assumed_acc_noise=cfg.acc_noise * acc_factor).metrics["sofia_rel_error"]


@pytest.mark.slow
def test_claim_robust_to_misspecified_noise_levels() -> None:
    c = claim(SLUG, "misspecified_worst_sofia_rel_error")
    worst = max(misspecified(sf, sa) for sf in (1.0, 4.0) for sa in (0.25, 0.5, 1.0, 4.0))
    flow_noise_understated_4x_sofia_rel_error = misspecified(0.25, 1.0)
    assert c.holds(worst) and not c.holds(flow_noise_understated_4x_sofia_rel_error)


@pytest.mark.slow
def test_claim_holds_with_flow_measured_by_lucas_kanade_on_rendered_ground() -> None:
    c = claim(SLUG, "lk_sofia_rel_error_4_sensors")
    res = ofo.run(n_flights=8, n_sensors=4, flow="lucas-kanade", seed=0)
    lk_raw_rel_error_4_sensors = res.metrics["raw_rel_error"]
    assert c.holds(res.metrics["sofia_rel_error"]) and not c.holds(lk_raw_rel_error_4_sensors)


def confidently_wrong(**kw) -> float:
    return float(ofo.lk_shift_sweep(ofo.ground_texture()[0], np.arange(0.0, 10.5, 1.0), **kw)[:, 1].mean())


def test_lucas_kanade_rarely_reliable_and_wrong() -> None:
    # An observation about our sensor model (appendix of the notes), not a claim of the paper.
    assert confidently_wrong(levels=2, n_patches=100) <= 0.01


def test_four_sensors_do_no_worse_than_two(main_run) -> None:
    four = ofo.run(n_flights=16, n_sensors=4)
    assert four.metrics["height_rms_m"] <= main_run.metrics["height_rms_m"]
    assert four.metrics["sofia_rel_error"] <= main_run.metrics["sofia_rel_error"] * 1.05


# ---------------------------------------------------------------------------------------------------
# Checks an expert would insist on, and the common mistakes they catch
# ---------------------------------------------------------------------------------------------------

def process_model_is_exact(model=None) -> bool:
    """(C) must be the exact discretisation exp(FΔt) of ḣ = v, v̇ = u − b, ḃ = 0 (u, b held)."""
    model = model or ofo.process_model
    dt = 0.02
    a, b, q = model(dt, 0.1, 1e-3)
    cont = np.zeros((4, 4))                     # augmented state (h, v, b, u)
    cont[0, 1], cont[1, 2], cont[1, 3] = 1.0, -1.0, 1.0
    exact = expm(cont * dt)
    return np.allclose(a, exact[:3, :3], rtol=0, atol=1e-12) and np.allclose(b[:, 0], exact[:3, 3], atol=1e-12)


def test_process_model_is_the_exact_discretisation() -> None:
    assert process_model_is_exact()
    _, _, q = ofo.process_model(0.02, 0.1, 1e-3)
    g = np.array([0.5 * 0.02**2, 0.02, 0.0])
    np.testing.assert_allclose(q, np.outer(g, g) * 0.01 + np.diag([ofo.HEIGHT_WALK, 0.0, 1e-6 * 0.02]))  # eq. (D)
    assert ofo.HEIGHT_WALK == 1e-8
    assert ofo.process_model(0.02, 0.1, 1e-3, estimate_bias=False)[2][2, 2] == 0.0


def test_mistake_bias_dropped_from_height_row() -> None:
    def dropped(*args, **kw):
        a, b, q = ofo.process_model(*args, **kw)
        a = a.copy()
        a[0, 2] = 0.0                            # h⁺ = h + Δt v + ½Δt² u: the bias forgotten in the height row
        return a, b, q
    assert process_model_is_exact() and not process_model_is_exact(dropped)


def imu_in_sync(cfg: ofo.FlightConfig) -> bool:
    """The pipeline's synchronisation check: the data say the IMU and the flow are within 50 ms."""
    return abs(ofo.run(cfg, n_flights=4, seed=1).metrics["imu_flow_lag_s"]) <= 0.05


def test_imu_flow_lag_recovers_a_known_delay() -> None:
    for delay in (0.0, 0.06, 0.2):
        lag = ofo.run(replace(SHORT, imu_delay=delay), n_flights=4, seed=2).metrics["imu_flow_lag_s"]
        assert abs(lag - delay) < 0.025, (delay, lag)


def test_mistake_imu_lag() -> None:
    late = replace(SHORT, imu_delay=0.1)
    assert imu_in_sync(SHORT) and not imu_in_sync(late)


def lk_converged() -> bool:
    """The pipeline's Lucas–Kanade has converged: 20 iterations move its flows by < 0.5 % (RMS)."""
    cfg = replace(SHORT, duration=8.0)
    flows = ofo.run(cfg, n_flights=1, flow="lucas-kanade", settle_periods=1.0).flows
    used = ofo.LK_ITERATIONS
    try:
        ofo.LK_ITERATIONS = 20
        more = ofo.run(cfg, n_flights=1, flow="lucas-kanade", settle_periods=1.0).flows
    finally:
        ofo.LK_ITERATIONS = used
    return ofo.relative_rms(flows, more) < 0.005


def test_mistake_one_lk_iteration(monkeypatch) -> None:
    assert lk_converged()
    monkeypatch.setattr(ofo, "LK_ITERATIONS", 1)
    assert not lk_converged()


def test_mistake_jacobi_sweep(camera: np.ndarray) -> None:
    assert dense_error_growth(camera) <= 1.05
    assert dense_error_growth(camera, jacobi=True) > 1.05


def test_mistake_eigenvalue_only_reliability() -> None:
    small = dict(n_patches=60, levels=2)
    assert confidently_wrong(**small) <= 0.01
    assert confidently_wrong(max_residual=np.inf, forward_backward=None, **small) > 0.01


def test_mistake_understated_flow_noise(main_run) -> None:
    c = claim(SLUG, "sofia_rel_error")
    assert c.holds(main_run.metrics["sofia_rel_error"])
    assert not c.holds(misspecified(0.25, 1.0))


# ---------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_value_errors() -> None:
    with pytest.raises(ValueError, match="img0, img1: expected two arrays of the same shape"):
        ofo.lucas_kanade(np.zeros((32, 32)), np.zeros((32, 31)))
    with pytest.raises(ValueError, match="window: expected None or an odd integer"):
        ofo.lucas_kanade(np.zeros((32, 32)), np.zeros((32, 32)), window=4)
    with pytest.raises(ValueError, match="levels: expected patches of at least 64 px for 4 levels"):
        ofo.lucas_kanade(np.zeros((32, 32)), np.zeros((32, 32)), levels=4)
    with pytest.raises(ValueError, match="velocity: expected shape"):
        ofo.ventral_flow(np.zeros(2), 1.0, 0.0, PHI)
    with pytest.raises(ValueError, match="height: expected heights > 0"):
        ofo.ventral_flow(np.zeros(3), -1.0, 0.0, PHI)
    with pytest.raises(ValueError, match=r"flows: expected shape \(\.\.\., 2, 2\)"):
        ofo.optic_flow_cues(np.zeros((10, 3, 2)), np.array(ofo.SENSOR_AZIMUTHS[2]), PHI)
    with pytest.raises(ValueError, match="omega_div, imu_az: expected two"):
        ofo.estimate_height(np.zeros((2, 10)), np.ones((2, 10)), np.zeros((2, 9)), 0.02, 2.0)
    with pytest.raises(ValueError, match="h_prior: expected a positive number"):
        ofo.estimate_height(np.zeros((2, 10)), np.ones((2, 10)), np.zeros((2, 10)), 0.02, 0.0)
    with pytest.raises(ValueError, match="osc_amplitude: expected a number >= 0"):
        ofo.FlightConfig(osc_amplitude=-0.1)
    with pytest.raises(ValueError, match="h_nominal: expected h_nominal - h_spread"):
        ofo.FlightConfig(h_nominal=1.0)
    with pytest.raises(ValueError, match="phi_deg: expected a tilt in"):
        ofo.FlightConfig(phi_deg=75.0)
    with pytest.raises(ValueError, match="n_sensors: expected one of 2, 4, got 3"):
        ofo.run(SHORT, n_sensors=3)
    with pytest.raises(ValueError, match="flow: expected one of 'geometry', 'lucas-kanade'"):
        ofo.run(SHORT, flow="sift")
    with pytest.raises(ValueError, match="strategy: expected one of 'npk', 'ppk', 'rpk'"):
        ofo.run(SHORT, strategy="guess")
    with pytest.raises(ValueError, match="flow_scale: expected a positive number"):
        ofo.run(SHORT, flow_scale=0.0)
    with pytest.raises(ValueError, match="max_motion: expected a positive number"):
        ofo.lucas_kanade(np.zeros((32, 32)), np.zeros((32, 32)), max_motion=-1.0)
    with pytest.raises(ValueError, match="imu_delay: expected a number >= 0"):
        ofo.FlightConfig(imu_delay=-0.1)
    with pytest.raises(ValueError, match="n_flights: expected an integer >= 1"):
        ofo.run(SHORT, n_flights=0)
    with pytest.raises(ValueError, match="u, z: expected"):
        ofo.extended_kalman_filter(np.zeros((1, 5)), np.zeros((1, 5, 1)), np.zeros(2), np.eye(2),
                                   np.eye(2), np.zeros((2, 1)), np.eye(2), np.eye(1), None, None)
