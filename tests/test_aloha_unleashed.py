"""Tests for minimal_impls/aloha_unleashed.py: unit checks, the common mistakes, the paper's claims on the
toy (the notebook's own experiment, slow tier) and bad input."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import claim

from minimal_impls import aloha_unleashed as au

SLUG = "aloha-unleashed"
NOTEBOOK_ITERS = 1200   # the notebook's gradient steps (ITERS there): the slow tier reruns its experiment
FAST_ITERS = 600        # a smaller policy for the fast tier's mistake tests (never for a claim's own run)


@pytest.fixture(scope="module")
def demos() -> au.Demos:
    return au.make_demos(200, seed=1)


@pytest.fixture(scope="module")
def small_policy(demos: au.Demos) -> au.TrainedPolicy:
    """A diffusion policy trained for half the notebook's budget: enough to sample sensible chunks."""
    return au.train(n_demos=200, chunk=8, objective="diffusion", iters=FAST_ITERS, demos=demos)


# ---------------------------------------------------------------------------------------- diffusion

def test_schedule_is_a_valid_variance_schedule() -> None:
    s = au.NoiseSchedule(50)
    assert s.betas.shape == (50,) and bool(((s.betas > 0) & (s.betas < 1)).all())
    torch.testing.assert_close(s.alpha_bar, torch.cumprod(1 - s.betas, 0))
    assert bool((s.alpha_bar[1:] < s.alpha_bar[:-1]).all())            # noise only grows
    assert s.alpha_bar[0] > 0.99 and s.alpha_bar[-1] < 1e-3            # from ~data to ~pure noise


def forward_mismatch(sched: au.NoiseSchedule, k: int, n: int = 40_000) -> float:
    """How far one jump of eq. (4) (q_sample) is from k + 1 single steps of eq. (2): the largest gap in
    mean or variance, Monte Carlo. About 0.01 when the two agree."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([0.8, -0.5, 0.1])
    x = x0.expand(n, 3).clone()
    for j in range(k + 1):
        x = sched.q_step(x, torch.full((n,), j), torch.randn(x.shape, generator=g))
    y = sched.q_sample(x0.expand(n, 3), torch.full((n,), k), torch.randn(n, 3, generator=g))
    return max((x.mean(0) - y.mean(0)).abs().max().item(), (x.var(0) - y.var(0)).abs().max().item())


@pytest.mark.parametrize("k", [0, 9, 30, 49])
def test_forward_noising_matches_closed_form(k: int) -> None:
    """k + 1 single steps of eq. (2), Monte Carlo, against q(x_k | x_0) of eq. (4)."""
    s = au.NoiseSchedule(50)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([0.8, -0.5, 0.1])
    x = x0.expand(40_000, 3).clone()
    for j in range(k + 1):
        x = s.q_step(x, torch.full((x.shape[0],), j), torch.randn(x.shape, generator=g))
    ab = s.alpha_bar[k]
    torch.testing.assert_close(x.mean(0), ab.sqrt() * x0, atol=0.02, rtol=0)
    torch.testing.assert_close(x.var(0), (1 - ab).expand(3), atol=0.02, rtol=0)
    # and q_sample draws from the same distribution in one go
    assert forward_mismatch(s, k) < 0.03


def test_mistake_alpha_instead_of_alpha_bar() -> None:
    """The one-jump forward process with alpha_k where abar_k belongs: noise levels seen in training no
    longer match those the sampler walks through. The eq. (2) vs eq. (4) check catches it."""
    class AlphaNotAlphaBar(au.NoiseSchedule):
        def q_sample(self, x0, k, eps):
            a = self._at(self.alphas, k, x0)
            return a.sqrt() * x0 + (1 - a).sqrt() * eps

    assert max(forward_mismatch(au.NoiseSchedule(50), k) for k in (9, 30)) < 0.03
    assert max(forward_mismatch(AlphaNotAlphaBar(50), k) for k in (9, 30)) > 0.2


def test_posterior_variance_is_beta_tilde() -> None:
    """beta~_k = Var(x_{k-1} | x_k, x_0) by conditioning the Gaussian pair (x_{k-1}, x_k) given x_0:
    v - alpha_k v^2 / (1 - abar_k) with v = 1 - abar_{k-1} (exercise 3), and strictly below beta_k."""
    s = au.NoiseSchedule(50)
    for k in (1, 2, 10, 30, 49):
        v = 1 - s.alpha_bar[k - 1]
        conditioned = v - s.alphas[k] * v ** 2 / (1 - s.alpha_bar[k])
        torch.testing.assert_close(s.posterior_variance(k), conditioned, rtol=1e-4, atol=1e-9)
        assert s.posterior_variance(k) < s.betas[k]
    assert s.posterior_variance(0) == 0                      # the last step adds no noise


def reverse_marginal_error(sched: au.NoiseSchedule, k: int, n: int = 40_000) -> float:
    """Relative error of the variance of x_{k-1} drawn by ddpm_step (with the true noise as eps) against
    the forward marginal q(x_{k-1} | x_0) = N(sqrt(abar_{k-1}) x_0, (1 - abar_{k-1}) I): an exact
    ancestral step must reproduce it. About 0.01 when it does."""
    g = torch.Generator().manual_seed(5)
    x0 = torch.tensor([0.8, -0.5, 0.1]).expand(n, 3)
    eps = torch.randn(n, 3, generator=g)
    xk = sched.q_sample(x0, torch.full((n,), k), eps)
    x_prev = sched.ddpm_step(xk, k, eps, torch.randn(n, 3, generator=g))
    target = 1 - sched.alpha_bar[k - 1]
    torch.testing.assert_close(x_prev.mean(0), sched.alpha_bar[k - 1].sqrt() * x0[0], atol=0.02, rtol=0)
    return ((x_prev.var(0) / target - 1).abs().max()).item()


@pytest.mark.parametrize("k", [1, 2, 5, 20, 45])
def test_ddpm_step_reproduces_the_forward_marginals(k: int) -> None:
    assert reverse_marginal_error(au.NoiseSchedule(50), k) < 0.05


def test_mistake_posterior_variance_beta() -> None:
    """sigma_k^2 = beta_k instead of beta~_k (issue 17: it passed every unit test of the earlier version).
    The sampler's marginals no longer match the forward process in the last steps."""
    class BetaVariance(au.NoiseSchedule):
        def posterior_variance(self, k):
            return self.betas[k] if k > 0 else torch.tensor(0.0)

    errors = [reverse_marginal_error(BetaVariance(50), k) for k in (1, 2, 5)]
    assert max(errors) > 0.5, errors


def test_x0_error_gain_at_the_top_of_the_schedule() -> None:
    s = au.NoiseSchedule(50)
    ab = s.alpha_bar[-1].item()
    assert 1e-7 < ab < 1e-5                                  # the cosine schedule ends at ~pure noise
    assert s.x0_error_gain(49) == pytest.approx(((1 - ab) / ab) ** 0.5, rel=1e-4)
    assert s.x0_error_gain(49) > 500 and s.x0_error_gain(0) < 0.05


def test_true_noise_recovers_x0_exactly() -> None:
    s = au.NoiseSchedule(50)
    g = torch.Generator().manual_seed(1)
    x0 = 2 * torch.rand(6, 8, 4, generator=g) - 1
    eps = torch.randn(6, 8, 4, generator=g)
    for k in (0, 17, 42):
        xk = s.q_sample(x0, torch.full((6,), k), eps)
        torch.testing.assert_close(s.predict_x0(xk, torch.full((6,), k), eps), x0, atol=1e-4, rtol=0)
        # a deterministic DDIM jump straight to the data lands on x0
        torch.testing.assert_close(s.ddim_step(xk, k, -1, eps), x0, atol=1e-4, rtol=0)
        # the last DDPM step adds no noise, so from k = 0 it returns x0 too
    x1 = s.q_sample(x0, torch.zeros(6, dtype=torch.long), eps)
    torch.testing.assert_close(s.ddpm_step(x1, 0, eps, torch.randn(6, 8, 4)), x0, atol=1e-4, rtol=0)


def test_ideal_denoiser_one_ddim_step_returns_the_mean() -> None:
    """Two equally likely chunks +a and -a: with the exact noise predictor, one DDIM jump from abar_K ~ 1e-6
    returns E[A^0] = 0 (the average, modes mixed); 50 ancestral steps return +a or -a."""
    s = au.NoiseSchedule(50)
    a = torch.full((1, 8, 4), 0.6)
    eps_fn = au.oracle_eps(s, torch.cat([a, -a]))
    one = au.denoise(eps_fn, s, (400, 8, 4), 1, torch.Generator().manual_seed(0))
    assert one.abs().max() < 1e-2
    full = au.denoise(eps_fn, s, (400, 8, 4), 50, torch.Generator().manual_seed(0))
    assert (full.abs() - 0.6).abs().max() < 1e-2
    assert 0.35 < (full.mean((1, 2)) > 0).float().mean() < 0.65      # both modes, about half each


def fork_chunks(demos: au.Demos, pol: au.TrainedPolicy) -> torch.Tensor:
    """The notebook's normalised demonstrated chunks at the moment both hands have closed."""
    i = torch.arange(len(demos))
    t = (demos.obs[:, :, 10:12].sum(-1) < 2).sum(1)
    chunks = demos.actions[i[:, None], (t[:, None] + torch.arange(pol.chunk)).clamp(max=demos.obs.shape[1] - 1)]
    return pol.norm.encode(au.relative_chunks(demos.obs[i, t], chunks))


def test_claim_one_step_of_the_ideal_denoiser_is_the_mean(demos: au.Demos, small_policy: au.TrainedPolicy) -> None:
    """The notebook's check at its settings (seed 0): the ideal noise predictor for the 200 fork chunks,
    one DDIM step lands on their mean; 50 DDPM steps (the control) land on single demonstrations."""
    data, s = fork_chunks(demos, small_policy), small_policy.sched
    spread = (data[demos.mode < 0].mean(0) - data[demos.mode > 0].mean(0)).norm()
    to_mean = {k: ((au.denoise(au.oracle_eps(s, data), s, data.shape, k, torch.Generator().manual_seed(3))
                    - data.mean(0)).flatten(1).norm(dim=1) / spread).mean().item() for k in (1, 50)}
    c = claim(SLUG, "oracle_ddim1_to_mean")
    assert c.control == "oracle_ddpm_to_mean"
    assert c.holds(to_mean[1]) and not c.holds(to_mean[50]), to_mean


def test_ddpm_mean_is_eq11_and_eq7() -> None:
    """The clipped x0-form of the step equals eq. (11)'s mean when x0_hat is in range."""
    s = au.NoiseSchedule(50)
    g = torch.Generator().manual_seed(2)
    x0, eps = 0.9 * (2 * torch.rand(5, 4, generator=g) - 1), torch.randn(5, 4, generator=g)
    for k in (1, 25, 48):
        xk = s.q_sample(x0, torch.full((5,), k), eps)
        eq11 = (xk - s.betas[k] / (1 - s.alpha_bar[k]).sqrt() * eps) / s.alphas[k].sqrt()
        torch.testing.assert_close(s.ddpm_step(xk, k, eps, torch.zeros(5, 4)), eq11, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(s.posterior_mean(xk, k, x0), eq11, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------- simulator

def test_simulator_detects_collision() -> None:
    env = au.CarryEnv(3, seed=0)
    env.closed[:] = True                                    # all three hold their bar
    env.hands = env.handles().clone()
    env.centre[0] = env.obstacle[0] - torch.tensor([0.0, 0.25])   # 0: right below the obstacle
    env.centre[1] = env.obstacle[1] + torch.tensor([0.7, 0.0])    # 1: well to its side
    env.centre[2] = torch.tensor([0.0, 0.3])                      # 2: far below
    env.hands = env.handles().clone()
    env.step((env.hands + torch.tensor([0.0, 0.08])).reshape(3, 4))   # everyone lifts by 0.08
    assert env.collided.tolist() == [True, False, False]
    assert not bool(env.dropped.any())
    frozen = env.centre[0].clone()
    env.step((env.hands + torch.tensor([0.0, 0.08])).reshape(3, 4))
    torch.testing.assert_close(env.centre[0], frozen)        # a finished episode no longer moves


def test_grasp_needs_both_hands_and_hands_must_move_together() -> None:
    env = au.CarryEnv(2, seed=0)
    target = env.handles().clone()
    target[1, 1] = env.hands[1, 1]                           # episode 1: the right hand stays put
    for _ in range(12):
        env.step(target.reshape(2, 4))
    assert env.grasped.tolist() == [True, False]
    assert env.closed[1].tolist() == [True, False]
    # a lone closed hand cannot lift the bar: it stays on its handle
    start = env.hands[1, 0].clone()
    env.step((env.hands + torch.tensor([0.0, 0.05])).reshape(2, 4))
    torch.testing.assert_close(env.hands[1, 0], start)
    # the grasped bar follows the hands; pulling them apart drops it
    torch.testing.assert_close(env.centre[0], env.hands[0].mean(0))
    for _ in range(2):
        apart = env.hands.clone()
        apart[0, 0, 0] -= 0.2
        env.step(apart.reshape(2, 4))
    assert env.dropped.tolist() == [True, False]


def test_hesitating_demonstrators_pause_then_jump() -> None:
    hes = au.TaskConfig(max_speed=0.7, horizon=60)
    d = au.make_demos(60, seed=3, cfg=hes, hesitate=True)
    assert d.success.float().mean() > 0.95 and 0.3 < (d.mode < 0).float().mean() < 0.7
    # the bar's centre (left hand + its handle offset + half the bar) stands still for >= 3 steps ...
    centre = d.obs[..., 0:2] + d.obs[..., 4:6]
    step = (centre[:, 1:] - centre[:, :-1]).norm(dim=-1)
    still = (step < 0.03) & d.valid[:, 1:] & (d.obs[:, 1:, 10:12].sum(-1) == 2)
    assert (still.sum(1) >= 3).all()
    # ... and the sidestep is one quick move: some step is longer than the normal speed limit allows
    assert (step.amax(1) > au.TaskConfig().max_speed * 2).all()


def test_temporal_ensembling_averages_the_overlapping_predictions(demos: au.Demos) -> None:
    pol = au.train(n_demos=20, chunk=4, objective="mse", iters=20, demos=demos)
    r = au.rollout(pol, 5, ensemble=0.01)
    assert r.evals == r.centre.shape[1] - 1                             # one prediction per step
    assert 0.0 <= r.stall_rate <= 1.0


def test_demonstrations_succeed_and_are_multimodal(demos: au.Demos) -> None:
    assert demos.success.float().mean() > 0.95
    left = (demos.mode < 0).float().mean().item()
    assert 0.4 < left < 0.6
    # the coin is independent of the start: the mode cannot be read off the first observation
    x0 = demos.obs[:, 0, :4].reshape(-1, 2, 2).mean(1)[:, 0]
    assert abs(torch.corrcoef(torch.stack([x0, demos.mode]))[0, 1]) < 0.2


def test_chunk_dataset_shapes_and_padding(demos: au.Demos) -> None:
    obs, chunks = au.chunk_dataset(demos, 8)
    assert obs.shape == (int(demos.valid.sum()), au.OBS_DIM) and chunks.shape == (obs.shape[0], 8, au.ACT_DIM)
    torch.testing.assert_close(chunks[0], demos.actions[0, :8])
    # past the end of the recording the last action repeats
    T = demos.actions.shape[1]
    _, padded = au.chunk_dataset(au.Demos(demos.obs[:1], demos.actions[:1], torch.ones(1, T, dtype=torch.bool),
                                          demos.mode[:1], demos.success[:1]), 8)
    torch.testing.assert_close(padded[-1], demos.actions[0, -1].expand(8, au.ACT_DIM))


# ---------------------------------------------------------------------------------------- network

def test_policy_shapes_gradients_and_seeded_sampling() -> None:
    cfg = au.PolicyConfig(chunk=5)
    model = au.ChunkPolicy(cfg)
    obs, x, k = torch.randn(7, au.OBS_DIM), torch.randn(7, 5, au.ACT_DIM), torch.randint(0, 50, (7,))
    out = model(obs, x, k)
    assert out.shape == (7, 5, au.ACT_DIM)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    sched = au.NoiseSchedule(50)
    a = au.sample_chunks(model, sched, obs, 10, torch.Generator().manual_seed(3))
    b = au.sample_chunks(model, sched, obs, 10, torch.Generator().manual_seed(3))
    assert a.shape == (7, 5, au.ACT_DIM) and torch.equal(a, b)


def test_run_end_to_end_smoke(demos: au.Demos) -> None:
    out = au.run(n_demos=20, chunk=4, iters=20, n_episodes=4, steps=4, demos=demos)
    assert set(out) == {"success", "collision", "drop", "mode_share"}
    assert all(0.0 <= v <= 1.0 for v in out.values())


def test_realtime_steps() -> None:
    assert [au.realtime_steps(h, 2.0) for h in (1, 4, 8, 50)] == [2, 8, 16, 50]
    assert au.realtime_steps(1, 0.5) == 1


def test_act_cvae_trains_and_is_deterministic_at_test_time(demos: au.Demos) -> None:
    pol = au.train(n_demos=20, chunk=4, objective="act", iters=30, demos=demos)
    assert hasattr(pol.model, "style") and pol.losses[-1] < pol.losses[0]
    obs = demos.obs[:5, 0]
    a, b = pol.act(obs, generator=torch.Generator().manual_seed(1)), pol.act(obs, generator=torch.Generator().manual_seed(2))
    assert a.shape == (5, 4, au.ACT_DIM) and torch.equal(a, b)          # z = 0: no randomness left
    # z matters to the decoder: the style token changes the output
    o = au.normalize_obs(obs)
    z = torch.ones(5, pol.model.cfg.latent)
    zeros = torch.zeros(5, 4, au.ACT_DIM)
    k = torch.zeros(5, dtype=torch.long)
    assert not torch.allclose(pol.model(o, zeros, k, z=z), pol.model(o, zeros, k))


def test_factorised_sampler_takes_each_arm_from_an_independent_sample() -> None:
    torch.manual_seed(0)
    model, sched = au.ChunkPolicy(au.PolicyConfig(chunk=3)), au.NoiseSchedule(50)
    obs = torch.randn(4, au.OBS_DIM)
    fact = au.sample_chunks(model, sched, obs, 5, torch.Generator().manual_seed(7), arms="factorised")
    both = au.sample_chunks(model, sched, obs.repeat(2, 1), 5, torch.Generator().manual_seed(7))
    torch.testing.assert_close(fact[..., :2], both[:4, :, :2])          # left arm: first draw
    torch.testing.assert_close(fact[..., 2:], both[4:, :, 2:])          # right arm: second draw


def test_saturation_counts_entries_near_the_edge() -> None:
    x = torch.tensor([[0.0, 0.5, 0.85, -1.0]])
    assert au.saturation(x) == 0.5 and au.saturation(x, edge=0.999) == 0.25


# ---------------------------------------------------------------------------------------- mistakes

def test_mistake_one_ddim_step(small_policy: au.TrainedPolicy, demos: au.Demos) -> None:
    """One DDIM jump from abar_K ~ 1e-6: x0_hat blows up by ~1000x and is clipped, the chunk saturates.
    The paper-side check: sampled chunks must look like demonstrations (saturation claim's control side),
    and the policy must succeed."""
    obs = au.normalize_obs(demos.obs[:100, 10])
    sat = {s: au.saturation(au.sample_chunks(small_policy.model, small_policy.sched, obs, s)) for s in (1, 50)}
    c = claim(SLUG, "ddim1_saturation")
    assert c.holds(sat[1]) and not c.holds(sat[50])
    r1 = au.rollout(small_policy, 50, steps=1)
    assert not claim(SLUG, "diffusion_success").holds(r1.success_rate)
    assert claim(SLUG, "ddim1_success").holds(r1.success_rate)


def test_mistake_factorised_arms(small_policy: au.TrainedPolicy) -> None:
    """Sampling each arm from its own draw splits the hands at the fork: the joint-denoising check fails."""
    c = claim(SLUG, "joint_drop")
    joint = au.rollout(small_policy, 60, steps=8)
    fact = au.rollout(small_policy, 60, steps=8, arms="factorised")
    assert c.holds(joint.drop_rate)
    assert not c.holds(fact.drop_rate)


def test_mistake_mse_regression(demos: au.Demos) -> None:
    """Regressing the chunk averages the two sides into the obstacle: the success claim fails on it, and
    its collision rate is the one the collision claim predicts."""
    mse = au.train(n_demos=200, chunk=8, objective="mse", iters=NOTEBOOK_ITERS // 2, demos=demos)  # the notebook's
    r = au.rollout(mse, 100)
    assert not claim(SLUG, "diffusion_success").holds(r.success_rate)
    assert claim(SLUG, "mse_collision").holds(r.collision_rate)


# ---------------------------------------------------------------------------------------- claims
# The notebook's own experiment, same seeds and settings, so the figures equal the notebook's; every
# claim is checked with its threshold and its control read from papers/aloha-unleashed.md.

@pytest.fixture(scope="module")
def notebook_metrics(demos: au.Demos) -> dict[str, float]:
    it = NOTEBOOK_ITERS
    diff = au.train(n_demos=200, chunk=8, objective="diffusion", iters=it, demos=demos)
    act = au.train(n_demos=200, chunk=8, objective="act", iters=it, demos=demos)
    mse = au.train(n_demos=200, chunk=8, objective="mse", iters=it // 2, demos=demos)
    r_diff, r_act, r_mse = (au.rollout(p, 100) for p in (diff, act, mse))
    m = {"diffusion_success": r_diff.success_rate, "diffusion_collision": r_diff.collision_rate,
         "diffusion_mode_share": r_diff.mode_share(), "act_success": r_act.success_rate,
         "act_mode_share": r_act.mode_share(), "mse_success": r_mse.success_rate,
         "mse_collision": r_mse.collision_rate}
    t_grasp = (demos.obs[:, :, 10:12].sum(-1) < 2).sum(1)
    probe = au.normalize_obs(demos.obs[torch.arange(len(demos)), t_grasp])
    sat = {s: au.saturation(au.sample_chunks(diff.model, diff.sched, probe, s, torch.Generator().manual_seed(2)))
           for s in (1, 50)}
    m["ddim1_saturation"], m["ddpm_saturation"] = sat[1], sat[50]
    m["ddim1_success"] = au.rollout(diff, 100, steps=1).success_rate
    m["ddim4_success"] = au.rollout(diff, 100, steps=4).success_rate
    m["joint_drop"] = r_diff.drop_rate
    m["factorised_drop"] = au.rollout(diff, 100, arms="factorised").drop_rate
    single = au.train(n_demos=200, chunk=1, objective="diffusion", iters=it, demos=demos)
    ok = {(h, e): au.rollout(p, 100, steps=au.realtime_steps(h, e)).success_rate
          for h, p in ((1, single), (8, diff)) for e in (1, 8)}
    m["chunk_gain_e1"], m["chunk_gain_e8"] = ok[8, 1] - ok[1, 1], ok[8, 8] - ok[1, 8]
    data = fork_chunks(demos, diff)
    spread = (data[demos.mode < 0].mean(0) - data[demos.mode > 0].mean(0)).norm()
    for k, name in ((1, "oracle_ddim1_to_mean"), (50, "oracle_ddpm_to_mean")):
        x = au.denoise(au.oracle_eps(diff.sched, data), diff.sched, data.shape, k, torch.Generator().manual_seed(3))
        m[name] = ((x - data.mean(0)).flatten(1).norm(dim=1) / spread).mean().item()
    m.update(hesitation_metrics())
    m.update(data_metrics())
    return m


def data_metrics(seed: int = 0) -> dict[str, float]:
    """The notebook's easy/messy data study at its settings: 5 and 50 demonstrations, 800 steps each."""
    out = {}
    for name, cfg in (("easy", au.TaskConfig(obstacle_spread=0.0, start_spread=0.0)),
                      ("messy", au.TaskConfig(obstacle_spread=0.4, start_spread=0.3))):
        d = au.make_demos(200, seed=21 + seed, cfg=cfg)
        ok = {n: au.rollout(au.train(n_demos=n, iters=800, demos=d, seed=seed), 100, cfg=cfg,
                            seed=1236 + seed).success_rate for n in (5, 50)}
        out[f"{name}_demos5_success"], out[f"{name}_gain_5_to_50"] = ok[5], ok[50] - ok[5]
    assert set(out) == {"easy_demos5_success", "messy_demos5_success", "easy_gain_5_to_50", "messy_gain_5_to_50"}
    return out


def hesitation_metrics(seed: int = 0) -> dict[str, float]:
    """The notebook's hesitation experiment at its settings (seed 0 unless told)."""
    hes = au.TaskConfig(max_speed=0.7, horizon=60)
    d = au.make_demos(200, seed=11 + seed, cfg=hes, hesitate=True)
    out = {}
    for name, h, obj, it in (("diffusion", 8, "diffusion", NOTEBOOK_ITERS), ("act", 8, "act", NOTEBOOK_ITERS),
                             ("mse", 1, "mse", NOTEBOOK_ITERS // 2)):
        pol = au.train(n_demos=200, chunk=h, objective=obj, iters=it, demos=d, seed=seed)
        r = au.rollout(pol, 100, cfg=hes, seed=1235 + seed, ensemble=0.01 if name == "act" else None)
        out[f"hes_{name}_success"] = r.success_rate
    assert set(out) == {"hes_diffusion_success", "hes_act_success", "hes_mse_success"}
    return out


CLAIMED = ["diffusion_success", "act_success", "mse_collision", "oracle_ddim1_to_mean",
           "ddim1_saturation", "ddim1_success", "joint_drop", "chunk_gain_e1", "chunk_gain_e8",
           "hes_diffusion_success", "hes_mse_success", "easy_demos5_success"]


@pytest.mark.slow
@pytest.mark.parametrize("metric", CLAIMED)
def test_claim_holds_and_its_control_fails(notebook_metrics: dict[str, float], metric: str) -> None:
    c = claim(SLUG, metric)
    if c.over_seeds == "all":      # a 'K of N' claim is judged over seeds, below
        assert c.holds(notebook_metrics[metric]), (metric, notebook_metrics[metric])
    assert not c.holds(notebook_metrics[c.control]), (c.control, notebook_metrics[c.control])


@pytest.mark.slow
def test_hesitation_regressor_fails_on_4_of_5_seeds() -> None:
    """hes_mse_success is a 'K of N' claim: the single-step MSE regressor waits at the pause on most
    training seeds and drifts out of it by chance on about one (the notes say why). Its control,
    hes_diffusion_success, fails the claim at every seed (test_claim_holds_and_its_control_fails)."""
    c = claim(SLUG, "hes_mse_success")
    k, n = (int(x) for x in c.over_seeds.split(" of "))
    hes = au.TaskConfig(max_speed=0.7, horizon=60)
    held = 0
    for seed in range(n):
        d = au.make_demos(200, seed=11 + seed, cfg=hes, hesitate=True)
        pol = au.train(n_demos=200, chunk=1, objective="mse", iters=NOTEBOOK_ITERS // 2, demos=d, seed=seed)
        held += c.holds(au.rollout(pol, 100, cfg=hes, seed=1235 + seed).success_rate)
    assert held >= k, (held, n)


def test_every_claim_is_tested() -> None:
    from paperclub.papers import parse_paper
    from conftest import ROOT

    paper = parse_paper(ROOT / "papers" / f"{SLUG}.md")
    assert sorted(c.metric for c in paper.claims) == sorted(CLAIMED)


# ---------------------------------------------------------------------------------------- bad input

def test_chunk_length_below_one_is_rejected(demos: au.Demos) -> None:
    with pytest.raises(ValueError, match="chunk: expected a positive integer, got 0"):
        au.PolicyConfig(chunk=0)
    with pytest.raises(ValueError, match="chunk: expected a positive integer, got -2"):
        au.train(chunk=-2, demos=demos)
    with pytest.raises(ValueError, match="chunk: expected a positive integer"):
        au.chunk_dataset(demos, 0)


@pytest.mark.parametrize("call, match", [
    (lambda: au.PolicyConfig(objective="l1"), "objective: expected one of 'diffusion', 'mse', 'act'"),
    (lambda: au.train(objective="l2"), "objective: expected one of"),
    (lambda: au.sample_chunks(au.ChunkPolicy(), au.NoiseSchedule(50), torch.zeros(2, 12), arms="left"),
     "arms: expected one of 'joint', 'factorised'"),
    (lambda: au.PolicyConfig(dim=30, heads=4), "heads: expected a divisor of dim=30"),
    (lambda: au.NoiseSchedule(0), r"steps: expected an integer in \[1, 1000\], got 0"),
    (lambda: au.make_demos(0), "n_demos: expected a positive integer, got 0"),
    (lambda: au.CarryEnv(0), "n: expected a positive integer, got 0"),
    (lambda: au.TaskConfig(max_speed=-0.1), "max_speed: expected a positive number"),
    (lambda: au.realtime_steps(0, 2.0), "chunk: expected a positive integer, got 0"),
    (lambda: au.TaskConfig(start_spread=-0.1), "start_spread: expected a number"),
])
def test_bad_arguments_are_rejected(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_shapes_and_ranges_are_rejected(demos: au.Demos) -> None:
    model, sched = au.ChunkPolicy(au.PolicyConfig(chunk=2)), au.NoiseSchedule(50)
    with pytest.raises(ValueError, match=r"obs: expected shape \(N, 12\), got \(3, 7\)"):
        au.sample_chunks(model, sched, torch.zeros(3, 7))
    with pytest.raises(ValueError, match=r"steps: expected an integer in \[1, 50\], got 0"):
        au.sample_chunks(model, sched, torch.zeros(3, 12), steps=0)
    with pytest.raises(ValueError, match=r"action: expected shape \(2, 4\), got \(2, 2\)"):
        au.CarryEnv(2).step(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"n_demos: expected an integer in \[1, 200\], got 500"):
        au.train(n_demos=500, demos=demos)
