"""ALOHA Unleashed in miniature: a Transformer diffusion policy that predicts action chunks.

Zhao, Tompson, Driess, Florence, Ghasemipour, Finn, Wahid. "ALOHA Unleashed: A Simple Recipe for
Robot Dexterity." CoRL 2024. https://arxiv.org/abs/2410.13126
with its two roots:
  * Zhao, Kumar, Levine, Finn. "Learning Fine-Grained Bimanual Manipulation with Low-Cost Hardware"
    (ALOHA and ACT, action chunking with Transformers). RSS 2023. https://arxiv.org/abs/2304.13705
  * Chi, Feng, Du, Xu, Cousineau, Burchfiel, Song. "Diffusion Policy: Visuomotor Policy Learning via
    Action Diffusion." RSS 2023. https://arxiv.org/abs/2303.04137
and the diffusion machinery of Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models" (DDPM,
NeurIPS 2020) and Song, Meng, Ermon, "Denoising Diffusion Implicit Models" (DDIM, ICLR 2021).
Equation numbers are DDPM's unless marked otherwise; ALOHA Unleashed itself states the policy in words.

The recipe in one line: collect many (noisy, multimodal) human demonstrations and fit them with an
expressive generative policy -- a Transformer that denoises a whole chunk of future actions of both
arms, conditioned on the observation -- rather than with a regressor of the next action.

What this toy keeps:
  * a bimanual task: two hands must close on the two handles of a bar (the bar is too heavy for
    one), keep their spacing while carrying it (or it slips out), and carry it around an obstacle
  * multimodal, slightly noisy demonstrators: a fair coin sends half of them left of the obstacle and
    half right, with a smooth tremor on the commands, as teleoperators have
  * position targets for both hands as the action, predicted as a chunk of H future steps and
    executed open loop before the policy looks again (ACT's action chunking)
  * the policy in miniature: an observation encoder that turns the state into tokens, and a
    Transformer whose H query tokens are the noisy actions, attending to each other, to the
    observation tokens and to a diffusion-step token (the paper: an encoder-decoder Transformer)
  * DDPM training with the noise-prediction loss (eq. 14; Diffusion Policy eq. 5), a squared-cosine
    schedule with K = 50 steps, ancestral sampling through all 50 steps (Alg. 2) or deterministic
    DDIM sampling with fewer (DDIM eq. 12)
  * baselines: the same network trained by plain regression (MSE behaviour cloning); our ACT-style
    stand-in for the paper's L1 chunking baseline (the network as the decoder of a conditional VAE as
    in ACT, L1 loss, z = 0 at test time), optionally with ACT's temporal ensembling; single actions
    (H = 1); a per-arm factorised sampler; the ideal (exact) noise predictor of a finite data set
  * a hesitating, non-Markovian demonstrator (pause, then one quick sidestep) and an easy and a messy
    variant of the task (how varied the start is)

What it drops:
  * images: four cameras through ResNet50 backbones (per the club's newsletter); here the observation
    is 12 numbers (hands, handles and obstacle as seen from the hands, which hands are closed)
  * scale: 36 k parameters, 200 scripted demonstrations (over 26,000 teleoperated ones, secondary
    sources) and about a thousand CPU gradient steps (64 TPUv5e for 265 h in JAX, per the newsletter)
  * depth: one Transformer block, whose single softmax does a decoder layer's self- and
    cross-attention; each query also sees the raw observation (a shortcut a one-block net needs)
  * 14-D joint-space actions, grippers and contact-rich, deformable objects (here: 4-D hand targets,
    kinematics, a rigid bar and a disc obstacle); actions are relative to the current hand positions
  * EMA of the weights, data augmentation, observation history, recoveries in the demonstrations
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls.common import check_arg, check_choice, check_number, check_positive, check_shape, device, seed_everything

OBS_DIM = 12   # hands (4), handle - hand (4), obstacle - bar (2), closed (2)
ACT_DIM = 4    # target positions of the left and right hand


# ----------------------------------------------------------------------------------------------------
# 1. The task: carry a bar with two hands around an obstacle (a vectorised 2-D simulator)
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskConfig:
    bar_half_width: float = 0.15       # handles at bar centre -/+ (w/2, 0)
    obstacle_y: float = 1.0
    obstacle_spread: float = 0.3       # the obstacle's x is drawn from U(-spread, spread) per episode
    start_spread: float = 0.12         # ... and the bar's starting x from U(-spread, spread)
    obstacle_radius: float = 0.18
    goal: tuple[float, float] = (0.0, 1.75)
    goal_radius: float = 0.2
    grasp_radius: float = 0.08         # a hand this close to its handle closes on it
    drop_tolerance: float = 0.12       # how far the hands' spacing may drift from the bar's length
    max_speed: float = 0.09            # the farthest a hand moves in one step
    horizon: int = 50                  # steps per episode

    def __post_init__(self) -> None:
        for name in ("bar_half_width", "obstacle_radius", "goal_radius", "grasp_radius",
                     "drop_tolerance", "max_speed"):
            check_positive(name, getattr(self, name))
        check_positive("horizon", self.horizon, integer=True)
        check_number("obstacle_spread", self.obstacle_spread, low=0)
        check_number("start_spread", self.start_spread, low=0)


class CarryEnv:
    """A batch of B independent episodes, stepped together.

    State: the hands (B, 2, 2), the bar's centre (B, 2), the obstacle (B, 2), which hands are closed.
    An action (B, 4) is a target position for each hand (ALOHA commands absolute joint positions); a
    hand moves towards its target at no more than ``max_speed`` per step. A hand that comes within
    ``grasp_radius`` of its handle closes on it; one hand cannot lift the bar, so it waits there
    until the other one closes too, and from then on the bar moves with the hands.
    """

    def __init__(self, n: int, cfg: TaskConfig = TaskConfig(), seed: int = 0,
                 dev: torch.device | None = None) -> None:
        check_positive("n", n, integer=True)
        g = torch.Generator().manual_seed(seed)
        u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g)          # noqa: E731
        self.cfg, self.n, self.dev = cfg, n, dev or torch.device("cpu")
        centre = torch.stack([u(-cfg.start_spread, cfg.start_spread), u(0.35, 0.39)], -1)
        hands = torch.stack([torch.stack([u(-0.55, -0.45), u(0.05, 0.15)], -1),
                             torch.stack([u(0.45, 0.55), u(0.05, 0.15)], -1)], 1)
        obstacle = torch.stack([u(-cfg.obstacle_spread, cfg.obstacle_spread), torch.full((n,), cfg.obstacle_y)], -1)
        self.hands, self.centre, self.obstacle = hands.to(self.dev), centre.to(self.dev), obstacle.to(self.dev)
        self.closed = torch.zeros(n, 2, dtype=torch.bool, device=self.dev)
        no = torch.zeros(n, dtype=torch.bool, device=self.dev)
        self.collided, self.dropped, self.succeeded = no.clone(), no.clone(), no.clone()
        self.offset = torch.tensor([[-cfg.bar_half_width, 0.0], [cfg.bar_half_width, 0.0]], device=self.dev)
        self.t = 0

    @property
    def grasped(self) -> torch.Tensor:
        """(B,) both hands hold the bar."""
        return self.closed.all(-1)

    @property
    def done(self) -> torch.Tensor:
        return self.collided | self.dropped | self.succeeded

    def handles(self) -> torch.Tensor:
        """(B, 2, 2) the left and right handle."""
        return self.centre[:, None] + self.offset

    def obs(self) -> torch.Tensor:
        """(B, 12): where the hands are (proprioception), where the handles and the obstacle are as
        seen from them (what the paper's cameras and CNN backbone must extract), which hands are closed."""
        return torch.cat([self.hands.reshape(self.n, 4), (self.handles() - self.hands).reshape(self.n, 4),
                          self.obstacle - self.centre, self.closed.float()], -1)

    def step(self, action: torch.Tensor) -> None:
        """Move the hands towards their targets, close them on the handles, carry the bar, judge."""
        check_shape("action", action, (self.n, ACT_DIM))
        cfg, live, was_grasped = self.cfg, ~self.done, self.grasped
        delta = action.to(self.dev).reshape(self.n, 2, 2) - self.hands
        # the speed limit scales a step down to max_speed, never up
        move = delta * (cfg.max_speed / delta.norm(dim=-1, keepdim=True).clamp_min(1e-9)).clamp(max=1.0)
        free = live[:, None] & ~(self.closed & ~was_grasped[:, None])   # a lone closed hand waits
        self.hands = torch.where(free[..., None], self.hands + move, self.hands)
        # grippers close on a handle within reach and snap onto it
        near = (self.hands - self.handles()).norm(dim=-1) < cfg.grasp_radius
        newly = near & ~self.closed & live[:, None]
        self.closed = self.closed | newly
        self.hands = torch.where(newly[..., None], self.handles(), self.hands)
        # once both hold it, the bar is carried rigidly: its centre is the hands' midpoint ...
        carried = was_grasped & live
        self.centre = torch.where(carried[:, None], self.hands.mean(1), self.centre)
        # ... and it slips out if the hands pull apart or squeeze together: they must move as one
        slip = (self.hands[:, 1] - self.hands[:, 0] - 2 * self.offset[1]).norm(dim=-1)
        self.dropped |= carried & (slip > cfg.drop_tolerance)
        self.collided |= live & self.collision()
        at_goal = (self.centre - torch.tensor(cfg.goal, device=self.dev)).norm(dim=-1) < cfg.goal_radius
        self.succeeded |= live & self.grasped & at_goal & ~self.collided & ~self.dropped
        self.t += 1

    def collision(self) -> torch.Tensor:
        """(B,) the bar (the segment between its handles) or a hand touches the obstacle."""
        hl, hr = self.handles().unbind(1)
        seg, o = hr - hl, self.obstacle
        s = (((o - hl) * seg).sum(-1) / (seg * seg).sum(-1)).clamp(0.0, 1.0)   # closest point on the bar
        d_bar = (hl + s[:, None] * seg - o).norm(dim=-1)
        d_hand = (self.hands - o[:, None]).norm(dim=-1).amin(-1)
        return torch.minimum(d_bar, d_hand) < self.cfg.obstacle_radius


# ----------------------------------------------------------------------------------------------------
# 2. Demonstrations: a scripted, multimodal, slightly noisy "teleoperator"
# ----------------------------------------------------------------------------------------------------

@dataclass
class Demos:
    obs: torch.Tensor        # (N, T, 12) the observation before each step
    actions: torch.Tensor    # (N, T, 4)  the command given at that step
    valid: torch.Tensor      # (N, T) the episode was still running
    mode: torch.Tensor       # (N,) -1 passed left of the obstacle, +1 right
    success: torch.Tensor    # (N,) the demonstrator reached the goal cleanly

    def __len__(self) -> int:
        return self.obs.shape[0]

    def subset(self, n: int) -> "Demos":
        """The first n demonstrations."""
        check_number("n_demos", n, low=1, high=len(self), integer=True)
        return Demos(self.obs[:n], self.actions[:n], self.valid[:n], self.mode[:n], self.success[:n])


def make_demos(n_demos: int, seed: int = 0, tremor: float = 0.006, cfg: TaskConfig = TaskConfig(),
               hesitate: bool = False) -> Demos:
    """Run the scripted demonstrator in the simulator and record (observation, action) pairs.

    Reach: each hand heads straight for its handle at the demonstrator's own pace until both are
    closed. Carry: the bar rises steadily to the goal's height while a smooth sideways swerve takes it
    past the obstacle on the side picked by a fair coin -- independent of where things stand, so that
    the same observation is followed by both modes. Pace, swerve timing and width vary per demo, and a
    smooth AR(1) tremor on each hand's command plays the teleoperator's noise.

    hesitate=True is a non-Markovian demonstrator, like a person who stops to decide: it carries the
    bar to just below the obstacle, pauses there for 6-14 steps, then sidesteps left or right (the
    coin) and passes. At the pause every demonstration is in the same state, followed by "stay" or by a
    sidestep to either side; the state never says how long the pause has lasted (use horizon >= 60).
    """
    check_positive("n_demos", n_demos, integer=True)
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n_demos, generator=g)        # noqa: E731
    env = CarryEnv(n_demos, cfg, seed=seed + 1)
    mode = torch.where(torch.rand(n_demos, generator=g) < 0.5, -1.0, 1.0)
    pace = u(0.067, 0.073)[:, None, None]              # per-step reach distance
    n_carry = torch.randint(27, 30, (n_demos,), generator=g).float()   # steps from grasp to goal
    width = u(0.585, 0.615)                            # how far past the obstacle the bar swerves
    tau_s, tau_e = u(0.068, 0.092), u(0.785, 0.815)    # when the swerve starts and ends (carry phase)
    c0, goal = env.centre.clone(), torch.tensor(cfg.goal)
    if hesitate:   # waypoints of the bar's centre and the steps spent on each leg
        ox, y_p, y_pass = env.obstacle[:, 0], cfg.obstacle_y - 0.38, cfg.obstacle_y + 0.3
        side = ox + mode * width
        pt = lambda x, y: torch.stack([x, torch.as_tensor(y).expand(n_demos)], -1)   # noqa: E731
        way = torch.stack([c0, pt(ox, y_p), pt(ox, y_p), pt(side, y_p), pt(side, y_pass),
                           goal.expand(n_demos, 2)])                                   # (6, N, 2)
        legs = torch.stack([torch.full((n_demos,), 7.0), torch.randint(6, 15, (n_demos,), generator=g).float(),
                            torch.full((n_demos,), 1.0), torch.full((n_demos,), 8.0), torch.full((n_demos,), 8.0)])
        ends = legs.cumsum(0)                                                          # (5, N)
    since_grasp, noise = torch.zeros(n_demos), torch.zeros(n_demos, ACT_DIM)
    obs, acts, valid = [], [], []
    for _ in range(cfg.horizon):    # time is the one loop we keep: each step depends on the last
        to_handle = env.handles() - env.hands
        reach = env.hands + to_handle * (pace / to_handle.norm(dim=-1, keepdim=True).clamp_min(1e-9)).clamp(max=1.0)
        since_grasp = since_grasp + env.grasped.float()
        if hesitate:   # piecewise path through the waypoints, each leg eased in and out (smoothstep)
            f = ((since_grasp - ends + legs) / legs).clamp(0, 1)                       # (5, N)
            f = f * f * (3 - 2 * f)
            centre = way[0] + (f[..., None] * (way[1:] - way[:-1])).sum(0)
        else:
            tau = (since_grasp / n_carry).clamp(max=1.0)
            swerve = torch.sin(math.pi * ((tau - tau_s) / (tau_e - tau_s)).clamp(0, 1)) ** 2
            x = (1 - swerve) * c0[:, 0] * (1 - tau) + swerve * (env.obstacle[:, 0] + mode * width)
            centre = torch.stack([x, c0[:, 1] + (goal[1] - c0[:, 1]) * tau], -1)
        carry = centre[:, None] + env.offset
        target = torch.where(env.grasped[:, None, None], carry, reach).reshape(n_demos, ACT_DIM)
        noise = 0.8 * noise + tremor * torch.randn(n_demos, ACT_DIM, generator=g)
        obs.append(env.obs())
        acts.append(target + noise)
        valid.append(~env.done)
        env.step(target + noise)
    return Demos(torch.stack(obs, 1), torch.stack(acts, 1), torch.stack(valid, 1), mode, env.succeeded.clone())


def chunk_dataset(demos: Demos, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (observation, next ``chunk`` actions) pair while the episode runs; past the end of a demo
    the last action repeats. Returns obs (M, 12) and chunks (M, chunk, 4) for the M valid steps."""
    check_positive("chunk", chunk, integer=True)
    T = demos.actions.shape[1]
    idx = (torch.arange(T)[:, None] + torch.arange(chunk)[None, :]).clamp(max=T - 1)   # (T, H)
    return demos.obs[demos.valid], demos.actions[:, idx][demos.valid]


def relative_chunks(obs: torch.Tensor, chunks: torch.Tensor) -> torch.Tensor:
    """Targets (B, H, 4) relative to where the hands are now: a chunk then describes a motion, the same
    wherever it starts, which a tiny network learns far faster than absolute positions."""
    return chunks - obs[:, None, :ACT_DIM]


def normalize_obs(obs: torch.Tensor) -> torch.Tensor:
    """Fixed affine map of the observation to roughly [-1, 1] (hands' y spans [0, 2])."""
    shift = torch.tensor([0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0.5, 0.5], device=obs.device, dtype=obs.dtype)
    scale = torch.tensor([1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2], device=obs.device, dtype=obs.dtype)
    return (obs - shift) * scale


@dataclass(frozen=True)
class ActionNormalizer:
    """Min-max scaling of every (future step, coordinate) of a chunk to [-1, 1], as Diffusion Policy
    does per coordinate. The diffusion noise has unit scale, so data of unit scale make N(0, I) at
    step K mean 'no information' for near and far steps of the chunk alike."""

    lo: torch.Tensor      # (H, 4)
    hi: torch.Tensor      # (H, 4)

    @staticmethod
    def fit(chunks: torch.Tensor) -> "ActionNormalizer":
        return ActionNormalizer(chunks.amin(0), chunks.amax(0))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * (x - self.lo) / (self.hi - self.lo).clamp_min(1e-6) - 1

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2 * (self.hi - self.lo) + self.lo


# ----------------------------------------------------------------------------------------------------
# 3. The policy network: observation encoder + Transformer denoiser over an action chunk
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyConfig:
    chunk: int = 8                # H, actions per prediction (the paper: 50 steps of 14 joints)
    dim: int = 48                 # token width
    heads: int = 2
    obs_tokens: int = 2           # tokens the observation encoder emits
    enc_layers: int = 0           # Transformer blocks over the observation tokens
    dec_layers: int = 1           # Transformer blocks over the action tokens
    mlp_ratio: int = 2
    objective: str = "diffusion"  # "mse": the same network as a plain regressor; "act": ACT's CVAE
    latent: int = 8               # size of ACT's style variable z (ACT: 32)

    def __post_init__(self) -> None:
        for name in ("chunk", "dim", "heads", "obs_tokens", "dec_layers", "mlp_ratio", "latent"):
            check_positive(name, getattr(self, name), integer=True)
        check_number("enc_layers", self.enc_layers, low=0, integer=True)
        check_arg(self.dim % self.heads == 0, "heads", f"a divisor of dim={self.dim}", self.heads)
        check_choice("objective", self.objective, OBJECTIVES)


OBJECTIVES = ("diffusion", "mse", "act")
MAX_STEPS = 1000   # the most diffusion steps a policy's step embedding covers


class Attention(nn.Module):
    """Multi-head attention: queries from x, keys and values from ``context``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.kv, self.out = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        split = lambda t: t.reshape(b, -1, self.heads, d // self.heads).transpose(1, 2)   # noqa: E731
        k, v = self.kv(context).chunk(2, dim=-1)
        y = F.scaled_dot_product_attention(split(self.q(x)), split(k), split(v))
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm Transformer block. Queries come from x, keys and values from [memory, x]: one softmax
    does a decoder layer's self-attention (over the chunk) and cross-attention (to the observation)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.n1, self.attn, self.n2 = nn.LayerNorm(dim), Attention(dim, heads), nn.LayerNorm(dim)
        # ReLU as in DETR, whose Transformer ACT and ALOHA Unleashed build on (and cheap on a CPU)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.ReLU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        h = self.n1(x)
        x = x + self.attn(h, h if memory is None else torch.cat([memory, h], 1))
        return x + self.mlp(self.n2(x))


def timestep_embedding(k: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of the diffusion step k (B,), as in DDPM's network: nearby steps
    get nearby codes, so what the network learns at one noise level carries over to its neighbours."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=k.device) / half)
    args = k.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], -1)


class ChunkPolicy(nn.Module):
    """eps_theta(O, A^k, k): predicts the noise in a noisy action chunk A^k given the observation O.

    Encoder: an MLP turns the observation into ``obs_tokens`` tokens (the paper: CNN feature tokens
    of the cameras and a proprioception token, mixed by a Transformer encoder).
    Decoder: H query tokens, one per future step, each embedding that step's noisy action (both arms)
    together with the raw observation, plus a learned position and the diffusion-step embedding. They
    attend to each other -- so all steps and both arms are denoised jointly -- and to the observation
    tokens and a step token. Handing every query the observation directly is our shortcut: with one
    block, routing it through attention alone learned the state dependence too slowly for our budget.
    With objective="mse" the noisy actions are zeros and the output is the chunk itself.
    With objective="act" the network is the decoder of ACT's conditional VAE: the step token is
    replaced by a token for the style variable z, which a small encoder infers from the demonstrated
    chunk during training (ACT: a BERT-like Transformer; here an MLP) and which is 0 at test time.
    """

    def __init__(self, cfg: PolicyConfig = PolicyConfig()) -> None:
        super().__init__()
        self.cfg, d = cfg, cfg.dim
        self.embed_obs = nn.Sequential(nn.Linear(OBS_DIM, 2 * d), nn.ReLU(), nn.Linear(2 * d, cfg.obs_tokens * d))
        self.encoder = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.enc_layers))
        self.embed_step = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        # the sinusoids of every step a schedule may use, computed once (a lookup per call is cheaper)
        self.register_buffer("step_codes", timestep_embedding(torch.arange(MAX_STEPS), d), persistent=False)
        self.embed_query = nn.Linear(ACT_DIM + OBS_DIM, d)
        self.pos = nn.Parameter(0.02 * torch.randn(cfg.chunk, d))
        self.decoder = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.dec_layers))
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, ACT_DIM))
        if cfg.objective == "act":
            # q(z | O, A): the demonstrated chunk tells the encoder which "style" (here: which side) it is
            self.style = nn.Sequential(nn.Linear(OBS_DIM + cfg.chunk * ACT_DIM, 2 * d), nn.ReLU(),
                                       nn.Linear(2 * d, 2 * cfg.latent))
            self.embed_z = nn.Linear(cfg.latent, d)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, 12) normalised observation -> (B, obs_tokens, d)."""
        tokens = self.embed_obs(obs).reshape(obs.shape[0], self.cfg.obs_tokens, self.cfg.dim)
        for blk in self.encoder:
            tokens = blk(tokens)
        return tokens

    def forward(self, obs: torch.Tensor, noisy: torch.Tensor, k: torch.Tensor,
                memory: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """Noise prediction (B, H, 4) for ``noisy`` (B, H, 4) at steps k (B,); ``memory`` caches encode(obs).
        For ACT, ``z`` (B, latent) takes the step's place (zeros when not given)."""
        mem = self.encode(obs) if memory is None else memory
        if self.cfg.objective == "act":
            z = torch.zeros(obs.shape[0], self.cfg.latent, device=obs.device) if z is None else z
            step = self.embed_z(z)                                                    # (B, d)
        else:
            step = self.embed_step(self.step_codes[k])                                # (B, d)
        # every query sees its noisy action, the raw observation, its place in the chunk and the step
        per_step = torch.cat([noisy, obs[:, None].expand(-1, noisy.shape[1], -1)], -1)
        x = self.embed_query(per_step) + self.pos + step[:, None]
        mem = torch.cat([mem, step[:, None]], 1)
        for blk in self.decoder:
            x = blk(x, mem)
        return self.head(x)


# ----------------------------------------------------------------------------------------------------
# 4. Diffusion: the forward process, the training loss, DDPM and DDIM sampling
# ----------------------------------------------------------------------------------------------------

class NoiseSchedule:
    """beta_k for k = 1..K (stored 0-indexed) from the squared-cosine schedule of Nichol & Dhariwal
    (2021), Diffusion Policy's default: with only K = 50 steps it still spreads the noise levels well."""

    def __init__(self, steps: int = 50, dev: torch.device | None = None) -> None:
        check_number("steps", steps, low=1, high=MAX_STEPS, integer=True)
        s = 0.008
        f = lambda t: torch.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2   # noqa: E731
        t = torch.arange(steps + 1, dtype=torch.float64)
        self.betas = (1 - f(t[1:]) / f(t[:-1])).clamp(max=0.999).float().to(dev or "cpu")
        self.alphas = 1.0 - self.betas                    # alpha_k = 1 - beta_k
        self.alpha_bar = torch.cumprod(self.alphas, 0)    # abar_k = prod_{s <= k} alpha_s
        self.steps = steps

    def _at(self, v: torch.Tensor, k: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return v[k].reshape(-1, *([1] * (like.dim() - 1)))

    def q_step(self, x_prev: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """One forward step x_k ~ q(x_k | x_{k-1}) = N(sqrt(1 - beta_k) x_{k-1}, beta_k I).     (eq. 2)"""
        b = self._at(self.betas, k, x_prev)
        return (1 - b).sqrt() * x_prev + b.sqrt() * eps

    def q_sample(self, x0: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """All forward steps at once: q(x_k | x_0) = N(sqrt(abar_k) x_0, (1 - abar_k) I).        (eq. 4)"""
        ab = self._at(self.alpha_bar, k, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def predict_x0(self, xk: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Eq. (4) solved for x_0: exact when eps is the noise that made x_k."""
        ab = self._at(self.alpha_bar, k, xk)
        return (xk - (1 - ab).sqrt() * eps) / ab.sqrt()

    def posterior_mean(self, xk: torch.Tensor, k: int, x0: torch.Tensor) -> torch.Tensor:
        """Mean of q(x_{k-1} | x_k, x_0):
        sqrt(abar_{k-1}) beta_k / (1 - abar_k) x_0 + sqrt(alpha_k) (1 - abar_{k-1}) / (1 - abar_k) x_k.  (eq. 7)"""
        ab, ab_prev = self.alpha_bar[k], (self.alpha_bar[k - 1] if k > 0 else torch.tensor(1.0))
        return (ab_prev.sqrt() * self.betas[k] * x0 + self.alphas[k].sqrt() * (1 - ab_prev) * xk) / (1 - ab)

    def posterior_variance(self, k: int) -> torch.Tensor:
        """Variance of q(x_{k-1} | x_k, x_0): beta~_k = (1 - abar_{k-1}) / (1 - abar_k) beta_k   (eq. 7).

        Not beta_k: that is the variance of the *forward* step. DDPM (Sec. 3.2) notes that sigma_k^2 =
        beta_k and beta~_k give similar image samples, but only beta~_k makes x_{k-1} the exact posterior
        given x_0; with beta_k every step adds too much noise, worst at the last steps (k small), where
        beta~_k << beta_k. At k = 1 (index 0) it is 0: the last step returns the mean."""
        ab_prev = self.alpha_bar[k - 1] if k > 0 else torch.tensor(1.0, device=self.betas.device)
        return (1 - ab_prev) / (1 - self.alpha_bar[k]) * self.betas[k]

    def ddpm_step(self, xk: torch.Tensor, k: int, eps: torch.Tensor, z: torch.Tensor,
                  clip: float = 1.0) -> torch.Tensor:
        """One ancestral step x_{k-1} = mu_theta(x_k, k) + sigma_k z, sigma_k^2 = beta~_k (Alg. 2, line 4).

        The mean of eq. (11), (x_k - beta_k / sqrt(1 - abar_k) eps) / sqrt(alpha_k), equals the posterior
        mean of eq. (7) at x0_hat = predict_x0(x_k, eps). We use the second form so that x0_hat can be
        clipped to the data range, as Diffusion Policy's sampler does: with the cosine schedule beta_K is
        0.999, and eq. (11) would multiply any error in eps by 1 / sqrt(alpha_K) ~ 30 at the first step.
        """
        x0 = self.predict_x0(xk, torch.tensor([k]), eps).clamp(-clip, clip)
        mean = self.posterior_mean(xk, k, x0)
        if k == 0:
            return mean                      # the last step adds no noise
        return mean + self.posterior_variance(k).sqrt() * z

    def x0_error_gain(self, k: int) -> float:
        """How much predict_x0 multiplies an error in eps at step k: sqrt(1 - abar_k) / sqrt(abar_k).
        At the top of the cosine schedule abar_K ~ 1e-6, so the gain is ~1000: one DDIM jump from pure
        noise to the data turns a small error in eps into an x0_hat far outside the data range."""
        ab = self.alpha_bar[k]
        return float(((1 - ab) / ab).sqrt())

    def ddim_step(self, xk: torch.Tensor, k: int, k_prev: int, eps: torch.Tensor, clip: float = 1.0) -> torch.Tensor:
        """Deterministic DDIM jump from step k to k_prev < k (-1 = data), DDIM eq. (12) with sigma = 0:
        x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps."""
        x0 = self.predict_x0(xk, torch.tensor([k]), eps).clamp(-clip, clip)
        ab_prev = self.alpha_bar[k_prev] if k_prev >= 0 else torch.tensor(1.0)
        return ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps


def diffusion_loss(model: ChunkPolicy, sched: NoiseSchedule, obs: torch.Tensor, a0: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """|| eps - eps_theta(O, sqrt(abar_k) A^0 + sqrt(1 - abar_k) eps, k) ||^2 with k ~ U{1..K}
    (eq. 14 'L_simple'; Diffusion Policy eq. 5 writes the same loss with the scaling folded into eps^k)."""
    k = torch.randint(0, sched.steps, (a0.shape[0],), generator=generator).to(a0.device)
    eps = torch.randn(a0.shape, generator=generator).to(a0.device)
    return F.mse_loss(model(obs, sched.q_sample(a0, k, eps), k), eps)


def regression_loss(model: ChunkPolicy, obs: torch.Tensor, a0: torch.Tensor) -> torch.Tensor:
    """Plain behaviour cloning: regress the chunk itself. Its optimum is the conditional *mean* chunk,
    which for two modes is their average."""
    k = torch.zeros(a0.shape[0], dtype=torch.long, device=a0.device)
    return F.mse_loss(model(obs, torch.zeros_like(a0), k), a0)


def act_loss(model: ChunkPolicy, obs: torch.Tensor, a0: torch.Tensor, generator: torch.Generator,
             kl_weight: float = 10.0) -> torch.Tensor:
    """ACT's objective (Zhao et al. 2023, Sec. IV): a conditional VAE whose encoder q(z | O, A) reads the
    demonstrated chunk, whose decoder (our ChunkPolicy) reconstructs it from (O, z), with an L1
    reconstruction loss plus beta * KL(q(z | O, A) || N(0, I)), beta = 10 as in ACT. At test time z = 0:
    the decoder then returns one chunk per observation, like any regressor."""
    mu, logvar = model.style(torch.cat([obs, a0.flatten(1)], -1)).chunk(2, dim=-1)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator).to(a0.device)  # reparametrised
    k = torch.zeros(a0.shape[0], dtype=torch.long, device=a0.device)
    recon = F.l1_loss(model(obs, torch.zeros_like(a0), k, z=z), a0)
    kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1).mean()
    return recon + kl_weight * kl


ARMS = ("joint", "factorised")


@torch.no_grad()
def sample_chunks(model: ChunkPolicy, sched: NoiseSchedule, obs: torch.Tensor, steps: int | None = None,
                  generator: torch.Generator | None = None, arms: str = "joint") -> torch.Tensor:
    """Normalised action chunks (B, H, 4) for normalised observations (B, 12).

    steps = K (or None): ancestral DDPM sampling through all K steps (Alg. 2; Diffusion Policy eq. 4).
    steps < K: deterministic DDIM on an evenly spaced subsequence of the K training steps.
    The regression and ACT baselines ignore ``steps`` and return their single prediction (ACT: z = 0).

    arms="factorised" is the ablation of joint denoising: the left arm's chunk comes from one sample,
    the right arm's from another, independent one. That draws from p(left | O) p(right | O), the product
    of the per-arm marginals -- what two perfect single-arm diffusion policies would do -- instead of
    the joint p(left, right | O) that one network denoising both arms together samples.
    """
    check_shape("obs", obs, (None, OBS_DIM))
    check_choice("arms", arms, ARMS)
    if arms == "factorised":
        both = sample_chunks(model, sched, obs.repeat(2, 1), steps, generator)     # two independent draws
        first, second = both.chunk(2)
        return torch.cat([first[..., :2], second[..., 2:]], -1)                   # left from one, right from the other
    b, H, dev = obs.shape[0], model.cfg.chunk, obs.device
    memory = model.encode(obs)                   # the observation is encoded once per chunk
    if model.cfg.objective in ("mse", "act"):
        zeros = torch.zeros(b, H, ACT_DIM, device=dev)
        return model(obs, zeros, torch.zeros(b, dtype=torch.long, device=dev), memory)   # ACT: z = 0
    eps_fn = lambda x, k: model(obs, x, torch.full((b,), k, device=dev), memory)      # noqa: E731
    return denoise(eps_fn, sched, (b, H, ACT_DIM), steps, generator, dev)


def denoise(eps_fn, sched: NoiseSchedule, shape: tuple[int, ...], steps: int | None = None,
            generator: torch.Generator | None = None, dev: torch.device | str = "cpu") -> torch.Tensor:
    """Sample from pure noise with any noise predictor eps_fn(x_k, k): all K ancestral steps (steps =
    K or None), or deterministic DDIM on an evenly spaced subsequence of ``steps`` noise levels."""
    steps = sched.steps if steps is None else steps
    check_number("steps", steps, low=1, high=sched.steps, integer=True)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g).to(dev)                  # A^K ~ N(0, I)
    if steps == sched.steps:
        for k in range(sched.steps - 1, -1, -1):
            x = sched.ddpm_step(x, k, eps_fn(x, k), torch.randn(x.shape, generator=g).to(dev))
    else:
        ks = torch.linspace(sched.steps - 1, 0, steps).round().long().tolist()
        for k, k_prev in zip(ks, ks[1:] + [-1]):
            x = sched.ddim_step(x, k, k_prev, eps_fn(x, k))
    return x


def oracle_eps(sched: NoiseSchedule, data: torch.Tensor):
    """The ideal noise predictor for the empirical distribution of ``data`` (M, ...): the minimiser of
    eq. (14) given unlimited capacity. By Tweedie's formula it is eps* = (x_k - sqrt(abar_k) E[A^0 | x_k])
    / sqrt(1 - abar_k), where E[A^0 | x_k] weighs every data point by its Gaussian likelihood. At the top
    of the schedule abar_K ~ 1e-6, x_k says almost nothing about A^0, so E[A^0 | x_K] is the data's mean:
    one DDIM jump from there (x0_hat = E[A^0 | x_K]) returns the *average* chunk, modes mixed."""
    flat = data.flatten(1)

    def eps_fn(x: torch.Tensor, k: int) -> torch.Tensor:
        ab = sched.alpha_bar[k]
        d2 = torch.cdist(x.flatten(1), ab.sqrt() * flat).square()               # (B, M)
        x0 = (torch.softmax(-d2 / (2 * (1 - ab)), -1) @ flat).reshape(x.shape)  # E[A^0 | x_k]
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()
    return eps_fn


def saturation(chunks: torch.Tensor, edge: float = 0.8) -> float:
    """Share of the entries of normalised chunks near the edge of the data range [-1, 1] (|x| >= edge).
    The sampler clips x0_hat at +-1, so a high share means the chunk is a clipped blow-up, not a
    demonstration: demonstrated chunks come this close to the edge only at the dataset's extremes
    (about 1 % of their entries in our data). edge=0.999 counts the entries clipped exactly."""
    return (chunks.abs() >= edge).float().mean().item()


# ----------------------------------------------------------------------------------------------------
# 5. Training
# ----------------------------------------------------------------------------------------------------

@dataclass
class TrainedPolicy:
    model: ChunkPolicy
    sched: NoiseSchedule
    norm: ActionNormalizer
    n_demos: int
    losses: list[float] = field(default_factory=list)

    @property
    def chunk(self) -> int:
        return self.model.cfg.chunk

    def act(self, obs: torch.Tensor, steps: int | None = None, generator: torch.Generator | None = None,
            arms: str = "joint") -> torch.Tensor:
        """Raw observations (B, 12) -> chunks of hand targets (B, H, 4) in world coordinates."""
        check_shape("obs", obs, (None, OBS_DIM))
        dev = next(self.model.parameters()).device
        obs = obs.to(dev)
        normed = sample_chunks(self.model.eval(), self.sched, normalize_obs(obs), steps, generator, arms)
        return self.norm.decode(normed) + obs[:, None, :ACT_DIM]


def train(n_demos: int = 200, chunk: int = 8, objective: str = "diffusion", iters: int = 1500,
          batch: int = 128, lr: float = 1e-2, seed: int = 0, demos: Demos | None = None,
          policy: PolicyConfig | None = None, diffusion_steps: int = 50) -> TrainedPolicy:
    """Fit a chunk policy to the first ``n_demos`` demonstrations of ``demos`` (made here if None).
    objective: "diffusion" (eq. 14), "mse" (chunk regression) or "act" (ACT's CVAE with L1)."""
    check_positive("chunk", chunk, integer=True)
    check_positive("n_demos", n_demos, integer=True)
    check_choice("objective", objective, OBJECTIVES)
    for name, value in (("iters", iters), ("batch", batch)):
        check_positive(name, value, integer=True)
    check_positive("lr", lr)
    cfg = PolicyConfig(chunk=chunk, objective=objective) if policy is None else policy
    check_arg((cfg.chunk, cfg.objective) == (chunk, objective), "policy",
              f"chunk={chunk} and objective={objective!r}", (cfg.chunk, cfg.objective))
    demos = make_demos(n_demos, seed=seed + 1) if demos is None else demos
    obs, chunks = chunk_dataset(demos.subset(n_demos), chunk)
    rel = relative_chunks(obs, chunks)
    g, dev = seed_everything(seed), device()
    norm = ActionNormalizer.fit(rel)
    obs, target = normalize_obs(obs).to(dev), norm.encode(rel).to(dev)
    norm = ActionNormalizer(norm.lo.to(dev), norm.hi.to(dev))
    model, sched = ChunkPolicy(cfg).to(dev), NoiseSchedule(diffusion_steps, dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4, fused=True)
    # linear warm-up, then cosine decay to zero: a high peak rate for a short budget, a calm finish
    warm = max(1, iters // 20)
    lr_at = lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * i / iters))  # noqa: E731
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses: list[float] = []
    model.train()
    for _ in range(iters):
        idx = torch.randint(0, obs.shape[0], (batch,), generator=g).to(dev)
        if objective == "diffusion":
            loss = diffusion_loss(model, sched, obs[idx], target[idx], g)
        elif objective == "act":
            loss = act_loss(model, obs[idx], target[idx], g)
        else:
            loss = regression_loss(model, obs[idx], target[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lr_sched.step()
        losses.append(loss.item())
    return TrainedPolicy(model.eval(), sched, norm, n_demos, losses)


# ----------------------------------------------------------------------------------------------------
# 6. Closed-loop evaluation
# ----------------------------------------------------------------------------------------------------

@dataclass
class Rollouts:
    success: torch.Tensor      # (B,) bool
    collided: torch.Tensor     # (B,) bool
    dropped: torch.Tensor      # (B,) bool
    side: torch.Tensor         # (B,) -1 / +1: the side of the obstacle the bar passed, 0 if it never did
    centre: torch.Tensor       # (B, T+1, 2) the bar's path
    hands: torch.Tensor        # (B, T+1, 2, 2) both hands' paths
    obstacle: torch.Tensor     # (B, 2)
    evals: int                 # network evaluations spent on the whole batch of episodes

    @property
    def success_rate(self) -> float:
        return self.success.float().mean().item()

    @property
    def collision_rate(self) -> float:
        return self.collided.float().mean().item()

    @property
    def drop_rate(self) -> float:
        return self.dropped.float().mean().item()

    @property
    def stall_rate(self) -> float:
        """Share of episodes still under way at the horizon: no success, no collision, no drop."""
        return (~(self.success | self.collided | self.dropped)).float().mean().item()

    def mode_share(self) -> float:
        """Share of the successful episodes that took the rarer side (0.5 = both modes equally)."""
        s = self.side[self.success]
        if s.numel() == 0:
            return 0.0
        left = (s < 0).float().mean().item()
        return min(left, 1 - left)


@torch.no_grad()
def rollout(policy: TrainedPolicy, n_episodes: int = 100, steps: int | None = None, seed: int = 1234,
            cfg: TaskConfig = TaskConfig(), arms: str = "joint", ensemble: float | None = None) -> Rollouts:
    """Run ``n_episodes`` fresh episodes at once: predict a chunk, execute all H actions open loop,
    look again, until every episode is over or the horizon is reached.

    ensemble=m is ACT's temporal ensembling (Zhao et al. 2023, Sec. IV-B): predict a chunk at *every*
    step and execute the weighted mean of all predictions made for this step, weight exp(-m i) with
    i = 0 for the oldest (ACT: m = 0.01, nearly a plain mean)."""
    check_positive("n_episodes", n_episodes, integer=True)
    if ensemble is not None:
        check_number("ensemble", ensemble, low=0)
    g = torch.Generator().manual_seed(seed)
    env = CarryEnv(n_episodes, cfg, seed=seed + 1)
    centres, hands = [env.centre.clone()], [env.hands.clone()]
    side = torch.zeros(n_episodes, device=env.dev)
    regressor = policy.model.cfg.objective != "diffusion"
    evals, per_chunk, past = 0, (1 if regressor else (steps or policy.sched.steps)), None
    while env.t < cfg.horizon and not bool(env.done.all()):
        chunk = policy.act(env.obs(), steps, g, arms).to(env.dev)
        evals += per_chunk
        if ensemble is None:
            todo = chunk[:, :cfg.horizon - env.t].unbind(1)                    # open loop
        else:   # past[a] = the chunk predicted a steps ago; its entry a is its prediction for now
            past = chunk[None] if past is None else torch.cat([chunk[None], past[:policy.chunk - 1]])
            age = torch.arange(past.shape[0], device=env.dev)
            w = torch.exp(ensemble * age.float())                              # oldest weighs most
            todo = [(w[:, None, None] * past[age, :, age]).sum(0) / w.sum()]
        for a in todo:
            env.step(a)
            # note the side on which the bar first reaches the obstacle's height
            crossing = (side == 0) & (env.centre[:, 1] >= cfg.obstacle_y)
            side = torch.where(crossing, torch.sign(env.centre[:, 0] - env.obstacle[:, 0]), side)
            centres.append(env.centre.clone())
            hands.append(env.hands.clone())
    return Rollouts(env.succeeded.cpu(), env.collided.cpu(), env.dropped.cpu(), side.cpu(),
                    torch.stack(centres, 1).cpu(), torch.stack(hands, 1).cpu(), env.obstacle.cpu(), evals)


def realtime_steps(chunk: int, evals_per_step: float, diffusion_steps: int = 50) -> int:
    """Denoising steps a policy can afford per chunk if the robot may spend ``evals_per_step`` network
    evaluations per control step: one prediction must last the H steps of its chunk."""
    check_positive("chunk", chunk, integer=True)
    check_positive("evals_per_step", evals_per_step)
    return int(max(1, min(diffusion_steps, math.floor(chunk * evals_per_step))))


def run(n_demos: int = 200, chunk: int = 8, objective: str = "diffusion", iters: int = 1500,
        n_episodes: int = 100, steps: int | None = None, seed: int = 0,
        demos: Demos | None = None) -> dict[str, float]:
    """Train one policy and evaluate it closed loop: the whole experiment in one call."""
    pol = train(n_demos=n_demos, chunk=chunk, objective=objective, iters=iters, seed=seed, demos=demos)
    r = rollout(pol, n_episodes, steps=steps)
    return {"success": r.success_rate, "collision": r.collision_rate, "drop": r.drop_rate,
            "mode_share": r.mode_share()}
