"""Quadruped inverse kinematics: from the body's pose to twelve joint angles, in closed form.

    Sen, M. A., Bakircioglu, V. & Kalyoncu, M. (2017). Inverse Kinematic Analysis Of A Quadruped
    Robot. International Journal of Scientific & Technology Research 6 (Sep. 2017).

Read it top to bottom, in the paper's order:

1. the robot: body length L and width W, three links per leg (L1 hip offset, L2 upper leg,
   L3 lower leg), joint limits, and the leg numbering of eqs. (6)-(9) and of the knee rule (17);
2. body kinematics: roll / yaw / pitch rotations, eqs. (1)-(3), their product R_xyz = Rx Ry Rz,
   eq. (4) (the order matters), the body pose T_M, eq. (5), and the four hip frames, eqs. (6)-(9);
3. leg forward kinematics with Denavit-Hartenberg matrices, eqs. (10)-(14);
4. closed-form leg inverse kinematics with atan2 and the law of cosines, eqs. (15)-(17): all four
   solutions (knee back/forward x foot below/above the shoulder line), chosen by the caller, with
   a fallback to the other legal solution and a reachability mask instead of silent clamping;
5. whole-body IK: body pose + feet fixed on the ground -> all twelve joint angles;
6. a numeric cross-check the paper does not have: damped least squares on the leg Jacobian;
7. a trot, the paper's Table 3 example, and `run()`, which measures every claim of the notebook.
Timings are not here: `bench/ik_timing.py` holds the speed comparison with scipy and a scalar
(`math`) copy of eqs. (15)-(17) for one target per call.

Frames (as in the paper's robot figure): body x forward, y up, z to the right (eqs. (6)-(7)
put the right legs at z = +W/2). Each hip frame has x pointing to the body's centre line, y up and
z forward (right legs) or backward (left legs), so one set of leg equations serves all four legs.

Leg numbering, used everywhere in this file, the notebook and the notes: the order of eqs. (6)-(9),
    leg 1 = right back, leg 2 = right front, leg 3 = left front, leg 4 = left back.
(The paper's robot figure numbers the legs this way; mike4192's re-implementation uses it too.)

Kept: eqs. (1)-(17) with the misprints of eqs. (10), (11), (15) fixed (see the notes); the knee rule of
eq. (17), which with these frames bends the front knees back and the hind knees forward; the paper's
Table 1 robot (`paper_robot()`) and Table 3's first example. Added (ours): joint limits, reach checks
that name the leg, a choice of IK branch, a numeric IK, a trot. Demos use Spot Micro's dimensions.

Everything batched is float64 torch and vectorised over any leading batch shape, so a whole gait
(frames x legs) is solved in one call; one target at a time works too, but pays torch's
per-call overhead (microseconds per operation); see bench/ik_timing.py for a scalar `math` path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import torch

from minimal_impls.common import check_arg, check_choice, check_number, check_positive
from minimal_impls.common import device as default_device
from minimal_impls.common import seed_everything

DTYPE = torch.float64  # kinematics wants 1e-12 round trips; float32 would stop near 1e-7 m

# ---------------------------------------------------------------------------------------------
# 1. The robot
# ---------------------------------------------------------------------------------------------

# One numbering everywhere: the order of eqs. (6)-(9).
LEG_NAMES = ("right back", "right front", "left front", "left back")
SIDE = (1.0, 1.0, -1.0, -1.0)    # +1 = right (z > 0), -1 = left
FRONT = (-1.0, 1.0, 1.0, -1.0)   # +1 = front (x > 0)
# Eq. (17): theta3 = atan2(-sqrt(1-D^2), D) for legs 1 and 3, atan2(+sqrt(1-D^2), D) for legs 2 and 4.
# In a right hip frame +1 bends the knee backwards; the left frames are turned by pi, so there +1
# bends it forwards. Legs 1 (right back) and 4 (left back) therefore bend their knees forward,
# legs 2 and 3 (the front legs) backward: front and hind legs are mirror images, like a dog's.
KNEE = (-1.0, 1.0, -1.0, 1.0)
JOINT_NAMES = ("hip", "shoulder", "knee")
KNEE_CHOICES = ("paper", "back", "forward")
HIP_CHOICES = ("below", "above")


def _check_limits_arg(name: str, lim: Any) -> None:
    ok = (isinstance(lim, (tuple, list)) and len(lim) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in lim)
          and lim[0] < lim[1])
    check_arg(ok, name, "(low, high) with low < high", lim)


@dataclass(frozen=True)
class Robot:
    """Body and leg dimensions (metres) and joint limits (radians).

    The defaults are Spot Micro's, as measured by mike4192 (body 0.186 x 0.078 m, hip 0.055 m,
    upper leg 0.1075 m, lower leg 0.130 m); `paper_robot()` gives the paper's Table 1 robot.
    Limits are written for a leg whose eq. (17) sign is +1 (legs 2 and 4); legs 1 and 3 get the
    mirror image (-high, -low) for shoulder and knee, so every leg has the same physical range.
    The paper gives no joint limits; these are ours.
    """

    length: float = 0.186   # L: front hips to back hips
    width: float = 0.078    # W: left hips to right hips
    l1: float = 0.055       # L1: hip offset, abduction axis to the shoulder, sideways
    l2: float = 0.1075      # L2: upper leg, shoulder to knee
    l3: float = 0.130       # L3: lower leg, knee to foot
    hip_limits: tuple[float, float] = (-math.pi / 3, math.pi / 3)
    shoulder_limits: tuple[float, float] = (-3 * math.pi / 4, math.pi / 2)
    knee_limits: tuple[float, float] = (0.0, 8 * math.pi / 9)  # one side of straight: no knee flip-over

    def __post_init__(self) -> None:
        for name in ("length", "width", "l1", "l2", "l3"):
            check_positive(name, getattr(self, name))
        for name in ("hip_limits", "shoulder_limits", "knee_limits"):
            _check_limits_arg(name, getattr(self, name))
        base = (tuple(self.hip_limits), tuple(self.shoulder_limits), tuple(self.knee_limits))
        mirror = (base[0], (-base[1][1], -base[1][0]), (-base[2][1], -base[2][0]))
        # plain floats per leg (bench/ik_timing.py's scalar path reads them without torch)
        object.__setattr__(self, "_leg_limits", tuple(base if k > 0 else mirror for k in KNEE))

    @property
    def reach(self) -> tuple[float, float]:
        """Closest and farthest shoulder-to-foot distance: the law-of-cosines triangle's limits."""
        return abs(self.l2 - self.l3), self.l2 + self.l3

    def limits(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Joint limits of every leg, shape (4, 3, 2): [leg, joint, (low, high)]."""
        return torch.tensor(self._leg_limits, dtype=DTYPE, device=device)  # type: ignore[attr-defined]


def paper_robot() -> Robot:
    """The paper's Table 1 robot: L = 1, W = 0.4, L1 = 0.1, L2 = L3 = 0.4 (m)."""
    return Robot(length=1.0, width=0.4, l1=0.1, l2=0.4, l3=0.4)


def _as_tensor(name: str, x: Any, last: Sequence[int], device: torch.device | str | None = None) -> torch.Tensor:
    """float64 tensor whose trailing dimensions are `last`; a one-line ValueError otherwise."""
    t = torch.as_tensor(x, dtype=DTYPE, device=device)
    shape = tuple(t.shape)
    want = "(..., " + ", ".join(str(d) for d in last) + ")"
    check_arg(len(shape) >= len(last) and shape[len(shape) - len(last):] == tuple(last), name,
              f"shape {want}", shape)
    bad = int((~torch.isfinite(t)).sum())
    check_arg(bad == 0, name, "finite values", f"{bad} NaN/inf")
    return t


# ---------------------------------------------------------------------------------------------
# 2. Body kinematics: rotations, body pose and hip frames (eqs. 1-9)
# ---------------------------------------------------------------------------------------------

def _rot(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation by `angle` about coordinate axis 0, 1 or 2."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rows = {
        0: [[one, zero, zero], [zero, c, -s], [zero, s, c]],   # eq. (1): Rx(omega), roll
        1: [[c, zero, s], [zero, one, zero], [-s, zero, c]],   # eq. (2): Ry(phi), yaw (y is up)
        2: [[c, -s, zero], [s, c, zero], [zero, zero, one]],   # eq. (3): Rz(psi), pitch
    }[axis]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def rot_x(omega: torch.Tensor) -> torch.Tensor:   # eq. (1): roll omega, about the forward axis
    return _rot(0, torch.as_tensor(omega, dtype=DTYPE))


def rot_y(phi: torch.Tensor) -> torch.Tensor:     # eq. (2): yaw phi (Table 1), about the vertical y
    return _rot(1, torch.as_tensor(phi, dtype=DTYPE))


def rot_z(psi: torch.Tensor) -> torch.Tensor:     # eq. (3): pitch psi (Table 1); psi > 0 lifts the nose
    return _rot(2, torch.as_tensor(psi, dtype=DTYPE))


def body_rotation(omega: torch.Tensor, phi: torch.Tensor, psi: torch.Tensor,
                  order: str = "xyz") -> torch.Tensor:
    """Eq. (4): R_xyz = Rx(omega) Ry(phi) Rz(psi); `order` multiplies them in another order.

    Rotations do not commute, so the same three angles give a different body attitude (and
    different joint angles) in another order: a convention to fix once and state.
    """
    check_arg(isinstance(order, str) and sorted(order) == ["x", "y", "z"], "order",
              "a permutation of 'xyz' such as 'xyz' or 'zyx'", order)
    mats = {"x": rot_x(omega), "y": rot_y(phi), "z": rot_z(psi)}
    return mats[order[0]] @ mats[order[1]] @ mats[order[2]]


def homogeneous(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """[[R, p], [0, 1]], shape (..., 4, 4)."""
    batch = torch.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    top = torch.cat([rotation.expand(*batch, 3, 3), translation.expand(*batch, 3)[..., None]], dim=-1)
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype, device=top.device).expand(*batch, 1, 4)
    return torch.cat([top, bottom], dim=-2)


def invert(t: torch.Tensor) -> torch.Tensor:
    """Inverse of a rigid transform, [[R^T, -R^T p], [0, 1]]: cheaper and exacter than a solve."""
    rt = t[..., :3, :3].transpose(-1, -2)
    return homogeneous(rt, -(rt @ t[..., :3, 3:])[..., 0])


def body_transform(pose: torch.Tensor, order: str = "xyz") -> torch.Tensor:
    """Eq. (5): T_M, the body's pose in the world, from pose = (omega, phi, psi, x_m, y_m, z_m).

    Written as [[R_xyz, p_m], [0, 1]]: the body centre sits at p_m and is turned by R_xyz about it.
    (The transcription prints R_xyz Trans(p_m), which also turns p_m; the two agree when p_m = 0.)
    """
    pose = _as_tensor("pose", pose, (6,))
    return homogeneous(body_rotation(pose[..., 0], pose[..., 1], pose[..., 2], order), pose[..., 3:])


def hip_offsets(robot: Robot) -> torch.Tensor:
    """Eqs. (6)-(9) without T_M: each hip frame in the body frame, shape (4, 4, 4), legs 1-4.

    Right legs (1, 2) turn by +pi/2 about y, left legs (3, 4) by -pi/2; they sit at (+-L/2, 0, +-W/2).
    """
    side, front = torch.tensor(SIDE, dtype=DTYPE), torch.tensor(FRONT, dtype=DTYPE)
    where = torch.stack([front * robot.length / 2, torch.zeros(4, dtype=DTYPE), side * robot.width / 2], -1)
    rot = rot_y(side * math.pi / 2).round(decimals=15)  # exact 0/+-1 entries, no 6e-17 noise
    return homogeneous(rot, where)


def leg_frames(robot: Robot, pose: torch.Tensor, order: str = "xyz") -> torch.Tensor:
    """Eqs. (6)-(9): T_leg = T_M @ T_hip for the four legs, shape (..., 4, 4, 4)."""
    t_m = body_transform(pose, order)
    return t_m[..., None, :, :] @ hip_offsets(robot).to(t_m.device)


# ---------------------------------------------------------------------------------------------
# 3. Leg forward kinematics: Denavit-Hartenberg (eqs. 10-14)
# ---------------------------------------------------------------------------------------------

def dh(theta: torch.Tensor, d: float, a: float, alpha: float) -> torch.Tensor:
    """Standard DH link transform Rz(theta) Tz(d) Tx(a) Rx(alpha), shape (..., 4, 4)."""
    c, s = torch.cos(theta), torch.sin(theta)
    ca, sa = round(math.cos(alpha), 15), round(math.sin(alpha), 15)
    one, zero = torch.ones_like(theta), torch.zeros_like(theta)
    rows = [[c, -s * ca, s * sa, a * c],
            [s, c * ca, -c * sa, a * s],
            [zero, zero + sa, zero + ca, zero + d],
            [zero, zero, zero, one]]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def leg_chain(robot: Robot, angles: torch.Tensor) -> torch.Tensor:
    """Frames T_0^i, i = 0..4, of one leg in its hip frame, shape (..., 5, 4, 4).

    The DH table (theta, d, a, alpha), one row per matrix of eqs. (10)-(13):
        T_0^1  (theta1,  0, -L1, 0)      hip abduction ("side swing"); the shoulder sits L1 outboard
        T_1^2  (-pi/2,   0,  0,  pi/2)   fixed: turns the next two axes sideways
        T_2^3  (theta2,  0,  L2, 0)      shoulder ("hip joint" in the paper), upper leg
        T_3^4  (theta3,  0,  L3, 0)      knee, lower leg
    (The paper's own D-H table does not give eqs. (10)-(11) under either D-H convention; its table of
    the entries of T_0^4 matches these rows, with one misprint in m14 that is harmless for L2 = L3.)
    """
    angles = _as_tensor("angles", angles, (3,))
    t01 = dh(angles[..., 0], 0.0, -robot.l1, 0.0)           # eq. (10)
    t12 = dh(angles.new_tensor(-math.pi / 2), 0.0, 0.0, math.pi / 2).round(decimals=15)  # eq. (11)
    t23 = dh(angles[..., 1], 0.0, robot.l2, 0.0)            # eq. (12)
    t34 = dh(angles[..., 2], 0.0, robot.l3, 0.0)            # eq. (13)
    t02 = t01 @ t12
    t03 = t02 @ t23
    t04 = t03 @ t34                                          # eq. (14)
    eye = torch.eye(4, dtype=DTYPE, device=angles.device).expand_as(t01)
    return torch.stack([eye, t01, t02, t03, t04], dim=-3)


def leg_fk(robot: Robot, angles: torch.Tensor) -> torch.Tensor:
    """Foot position in the hip frame, the translation column of T_0^4 (eq. 14), shape (..., 3).

    Written out: with A = L2 cos t2 + L3 cos(t2+t3) and B = L2 sin t2 + L3 sin(t2+t3),
        x4 = -L1 cos t1 + A sin t1,   y4 = -L1 sin t1 - A cos t1,   z4 = B.
    """
    return leg_chain(robot, angles)[..., 4, :3, 3]


def knee_direction(robot: Robot, angles: torch.Tensor) -> torch.Tensor:
    """+1 where the knee lies behind the shoulder-to-foot line, -1 in front, (..., 4) for (..., 4, 3).

    Pure geometry (the knee's world position), so it cannot be fooled by angles wound up by 2 pi;
    the tests use it to check that counting knee flips by sin(theta3) is right.
    """
    angles = _as_tensor("angles", angles, (4, 3))
    chain = leg_chain(robot, angles)
    shoulder, knee, foot = chain[..., 2, :3, 3], chain[..., 3, :3, 3], chain[..., 4, :3, 3]
    # In the hip frame z0 points forward on the right legs and backward on the left ones.
    forward = torch.tensor(SIDE, dtype=DTYPE, device=angles.device)
    u, v = knee - shoulder, foot - shoulder
    # Component of the knee ahead of the line shoulder->foot, in the leg's (z0, y0) plane.
    cross = u[..., 2] * v[..., 1] - u[..., 1] * v[..., 2]
    return torch.sign(cross * forward)


# ---------------------------------------------------------------------------------------------
# 4. Closed-form leg inverse kinematics (eqs. 15-17): four solutions, a choice, a fallback
# ---------------------------------------------------------------------------------------------
# A reachable foot has up to four solutions: the knee bent one way or the other (the +- of eq. 17)
# times the foot below or above the shoulder line (the +- of the square root A in eqs. 15-16).
# The paper picks the knee per leg and, implicitly, the foot below the shoulder.

def _leg_label(leg: int) -> str:
    return f"leg {leg + 1} ({LEG_NAMES[leg]})"


def _first(mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero()[0])


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    """Angle(s) in (-pi, pi]: sums and iterations leave that range, joint limits live in it."""
    return torch.atan2(torch.sin(angle), torch.cos(angle))


def closed_form(robot: Robot, foot: torch.Tensor, knee_sign: torch.Tensor | float,
                hip_sign: torch.Tensor | float) -> torch.Tensor:
    """Eqs. (15)-(17) for one branch, with NO checks: numbers come back for any input.

    knee_sign: the +- of eq. (17); hip_sign: +1 for the foot below the shoulder line (A > 0), -1
    above it. Out of reach, D is clamped to [-1, 1] and A^2 to >= 0, so the answer is a wrong but
    plausible-looking pose: `leg_ik` never returns it without a reachability flag.
    """
    x, y, z = foot.unbind(-1)
    l1, l2, l3 = robot.l1, robot.l2, robot.l3
    # In the hip's (x, y) plane the foot is L1 to the side and A below the shoulder (Pythagoras):
    a2 = x * x + y * y - l1 * l1
    a = hip_sign * torch.sqrt(a2.clamp_min(0.0))
    # Law of cosines in the leg plane: D = cos(theta3), eq. (17).
    d = ((a2 + z * z - l2 * l2 - l3 * l3) / (2 * l2 * l3)).clamp(-1.0, 1.0)
    theta3 = torch.atan2(knee_sign * torch.sqrt(1 - d * d), d)                      # eq. (17)
    # Direction to the foot (A, z) minus the angle the bent knee adds at the shoulder:  eq. (16)
    theta2 = torch.atan2(z, a) - torch.atan2(l3 * torch.sin(theta3), l2 + l3 * torch.cos(theta3))
    # (x, y) is (-L1, -A) turned by theta1, so theta1 = atan2(y, x) - atan2(-A, -L1).     eq. (15)
    # For A > 0 this is atan2(y, x) + atan2(A, -L1); the printed "- atan2(...)" is A < 0's root.
    theta1 = torch.atan2(y, x) - torch.atan2(-a, torch.full_like(a, -l1))
    # A difference of two atan2's can leave (-pi, pi]; wrap so the joint limits compare fairly.
    return torch.stack([_wrap(theta1), _wrap(theta2), theta3], dim=-1)


def printed_eq15(robot: Robot, foot: torch.Tensor) -> torch.Tensor:
    """theta1 exactly as eq. (15) is printed: -atan2(-y4, x4) - atan2(sqrt(x4^2+y4^2-L1^2), -L1).

    Kept to show, in the notebook and the tests, that it fails the round trip FK(IK(p)) = p.
    """
    x, y = foot[..., 0], foot[..., 1]
    a = torch.sqrt((x * x + y * y - robot.l1 ** 2).clamp_min(0.0))
    return _wrap(-torch.atan2(-y, x) - torch.atan2(a, torch.full_like(a, -robot.l1)))


def _reach_excess(robot: Robot, foot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """How far (m) each target is out of reach (<= 0: reachable), with the two distances behind it.

    Two conditions: the foot must be at least L1 from the hip's abduction axis (else A^2 < 0 and
    eq. (15) has no real root), and the shoulder-to-foot distance within [|L2-L3|, L2+L3] (else
    |D| > 1 in eq. (17)). Checking |D| alone misses the first.
    """
    lo, hi = robot.reach
    r_xy = torch.sqrt(foot[..., 0] ** 2 + foot[..., 1] ** 2)
    a2 = foot[..., 0] ** 2 + foot[..., 1] ** 2 - robot.l1 ** 2
    dist = torch.sqrt(a2.clamp_min(0.0) + foot[..., 2] ** 2)       # shoulder-to-foot distance
    inside = robot.l1 - r_xy                                        # > 0: within the hip offset
    return torch.maximum(torch.maximum(dist - hi, lo - dist), inside), inside, dist, r_xy


def reachable(robot: Robot, foot: torch.Tensor, tol: float = 1e-12) -> torch.Tensor:
    """Boolean mask (...,): can the leg put its foot at `foot` (hip frame) at all?"""
    foot = _as_tensor("foot", foot, (3,))
    return _reach_excess(robot, foot)[0] <= tol * max(robot.reach[1], 1.0)


def _raise_unreachable(robot: Robot, foot: torch.Tensor, ok: torch.Tensor, leg_of: torch.Tensor) -> None:
    """One-line ValueError for the first target a leg cannot reach, saying by how much."""
    excess, inside, dist, r_xy = _reach_excess(robot, foot)
    i = _first(~ok)
    n_bad = int((~ok).sum())
    more = f" (first of {n_bad} unreachable targets)" if n_bad > 1 else ""
    p = ", ".join(f"{v:.4f}" for v in foot[i].tolist())
    lo, hi = robot.reach
    if inside[i] > 0:
        why = f"within {robot.l1:.4f} m of the hip axis (at {r_xy[i]:.4f} m)"
    else:
        why = f"{dist[i]:.4f} m from the shoulder, the leg spans {lo:.4f} to {hi:.4f} m"
    raise ValueError(f"{_leg_label(int(leg_of[i]))}: target ({p}) is out of reach by "
                     f"{float(excess[i]) * 1000:.2f} mm: {why}{more}")


def _within(limits: torch.Tensor, angles: torch.Tensor, tol: float = 1e-9) -> torch.Tensor:
    return ((angles >= limits[..., 0] - tol) & (angles <= limits[..., 1] + tol)).all(-1)


def _raise_limits(limits: torch.Tensor, angles: torch.Tensor, bad: torch.Tensor, leg_of: torch.Tensor,
                  tried_all: bool) -> None:
    """One-line ValueError for the first target with no legal solution, naming joint and excess."""
    lo, hi = limits[..., 0].expand_as(angles), limits[..., 1].expand_as(angles)
    excess = torch.maximum(lo - angles, angles - hi)
    t = _first(bad)
    j = int(excess[t].argmax())
    k = (*t, j)
    n_bad = int(bad.sum())
    more = f" (first of {n_bad} targets beyond limits)" if n_bad > 1 else ""
    other = "; no other solution is within the limits either" if tried_all else ""
    raise ValueError(f"{_leg_label(int(leg_of[t]))}: {JOINT_NAMES[j]} angle "
                     f"{math.degrees(angles[k]):.1f} deg is {math.degrees(excess[k]):.1f} deg beyond "
                     f"its limits [{math.degrees(lo[k]):.1f}, {math.degrees(hi[k]):.1f}] deg{other}{more}")


class IKResult(NamedTuple):
    """What `leg_ik(..., check=False)` returns: nothing wrong is ever returned unflagged."""
    angles: torch.Tensor      # (..., 3); NaN where the target is out of reach
    reachable: torch.Tensor   # (...,) bool: the foot can be put there at all
    legal: torch.Tensor       # (...,) bool: reachable and the returned angles are within the limits


def _branch_signs(knee: str, hip: str, knee_paper: torch.Tensor | float, side: torch.Tensor | float
                  ) -> tuple[Any, float]:
    if knee not in KNEE_CHOICES:
        check_choice("knee", knee, KNEE_CHOICES)
    if hip not in HIP_CHOICES:
        check_choice("hip", hip, HIP_CHOICES)
    # "back" in hip-frame terms is +1 on the right (z0 forward), -1 on the left (z0 backward).
    k = {"paper": knee_paper, "back": side, "forward": -side}[knee]
    return k, (1.0 if hip == "below" else -1.0)


def _per_leg(robot: Robot, foot: torch.Tensor, leg: int | None) -> tuple[torch.Tensor, ...]:
    """Eq. (17) knee sign, side, limits and leg index broadcast to the batch; validates `leg`."""
    dev = foot.device
    if leg is None:
        check_arg(foot.dim() >= 2 and foot.shape[-2] == 4, "foot", "shape (..., 4, 3) when leg is None",
                  tuple(foot.shape))
        idx = torch.arange(4, device=dev)
    else:
        idx = torch.tensor(leg - 1, device=dev)
    knee = torch.tensor(KNEE, dtype=DTYPE, device=dev)[idx]
    side = torch.tensor(SIDE, dtype=DTYPE, device=dev)[idx]
    return knee, side, robot.limits(dev)[idx], idx.expand(foot.shape[:-1])


def _check_leg(leg: Any) -> None:
    check_arg(leg is None or (isinstance(leg, int) and not isinstance(leg, bool) and 1 <= leg <= 4), "leg",
              f"1, 2, 3 or 4 ({', '.join(LEG_NAMES)})", leg)


def leg_ik(robot: Robot, foot: Any, leg: int | None = None, knee: str = "paper", hip: str = "below",
           check: bool = True, fallback: bool = True) -> Any:
    """Closed-form IK, eqs. (15)-(17): foot position(s) in the hip frame -> (theta1, theta2, theta3).
    foot: (..., 4, 3) one target per leg (leg=None), or (..., 3) for the single leg `leg` (1-4).
    knee: "paper" (eq. 17's sign for the leg), "back" or "forward"; hip: "below" (the paper's: foot
    below the shoulder line) or "above". fallback=True: a solution beyond a joint limit is replaced by
    the first legal one of the others (same knee other hip, other knee, both other).
    check=True: returns the angles and raises a one-line ValueError naming the leg for a target
    out of reach or with no legal solution. check=False: returns IKResult(angles, reachable, legal),
    with NaN angles where out of reach; it never returns a wrong pose unflagged.
    """
    _check_leg(leg)
    foot = _as_tensor("foot", foot, (3,))
    knee_paper, side, limits, leg_of = _per_leg(robot, foot, leg)
    k_pref, h_pref = _branch_signs(knee, hip, knee_paper, side)
    ok = reachable(robot, foot)
    angles = closed_form(robot, foot, k_pref, h_pref)
    legal = ok & _within(limits, angles)
    preferred = angles
    if fallback and not bool(legal[ok].all()):
        for k, h in ((k_pref, -h_pref), (-k_pref, h_pref), (-k_pref, -h_pref)):
            alt = closed_form(robot, foot, k, h)
            take = ok & ~legal & _within(limits, alt)
            angles = torch.where(take[..., None], alt, angles)
            legal = legal | take
    if check:
        if not bool(ok.all()):
            _raise_unreachable(robot, foot, ok, leg_of)
        if not bool(legal.all()):
            _raise_limits(limits, preferred, ~legal, leg_of, tried_all=fallback)
        return angles
    return IKResult(torch.where(ok[..., None], angles, torch.full_like(angles, math.nan)), ok, legal)


# ---------------------------------------------------------------------------------------------
# 5. Whole-body IK: body pose + planted feet -> twelve joint angles
# ---------------------------------------------------------------------------------------------

def standing_feet(robot: Robot) -> torch.Tensor:
    """Feet on the ground (y = 0) right under the shoulders of an unturned body, shape (4, 3)."""
    out = hip_offsets(robot)[:, :3, 3].clone()
    out[:, 2] += torch.tensor(SIDE, dtype=DTYPE) * robot.l1  # the shoulder sits L1 outboard of the hip
    return out


def feet_in_hip_frames(robot: Robot, pose: torch.Tensor, feet: torch.Tensor, order: str = "xyz") -> torch.Tensor:
    """World feet (..., 4, 3) seen from each hip frame: inverse(T_M T_hip) p, shape (..., 4, 3)."""
    feet = _as_tensor("feet", feet, (4, 3))
    frames = invert(leg_frames(robot, pose, order).to(feet.device))
    return (frames[..., :3, :3] @ feet[..., None])[..., 0] + frames[..., :3, 3]


def body_ik(robot: Robot, pose: torch.Tensor, feet: torch.Tensor, order: str = "xyz", **kwargs: Any) -> Any:
    """All twelve joint angles (..., 4, 3) that put the body at `pose` with the feet at `feet`.

    pose: (..., 6) = (omega roll, phi yaw, psi pitch, x_m, y_m, z_m); feet: (..., 4, 3) in the world.
    Keyword arguments (knee, hip, check, fallback) go to `leg_ik`.
    """
    return leg_ik(robot, feet_in_hip_frames(robot, pose, feet, order), **kwargs)


def robot_points(robot: Robot, pose: torch.Tensor, angles: torch.Tensor, order: str = "xyz") -> torch.Tensor:
    """World positions of hip, shoulder, knee and foot of every leg, shape (..., 4, 4, 3): for drawing
    and for checking that the feet land where they were asked to (whole-body FK)."""
    angles = _as_tensor("angles", angles, (4, 3))
    chain = leg_chain(robot, angles)[..., [0, 1, 3, 4], :, :]            # (..., 4 legs, 4 points, 4, 4)
    world = leg_frames(robot, pose, order).to(angles.device)[..., None, :, :] @ chain
    return world[..., :3, 3]


# ---------------------------------------------------------------------------------------------
# 6. A numeric cross-check: damped least squares on the Jacobian
# ---------------------------------------------------------------------------------------------

def leg_jacobian(robot: Robot, angles: torch.Tensor) -> torch.Tensor:
    """Geometric Jacobian d(foot)/d(theta) in the hip frame, shape (..., 3, 3): column i is
    z_i x (p - o_i) for the axes z_0 (hip), z_2 (shoulder, after the fixed T_1^2), z_3 (knee)."""
    return _jacobian(leg_chain(robot, angles))


def _jacobian(chain: torch.Tensor) -> torch.Tensor:   # from the DH frames of one FK pass
    foot = chain[..., 4, :3, 3]
    axes = chain[..., [0, 2, 3], :3, 2]
    origins = chain[..., [0, 2, 3], :3, 3]
    return torch.linalg.cross(axes, foot[..., None, :] - origins).transpose(-1, -2)


class NumericIK(NamedTuple):
    angles: torch.Tensor      # (..., 3)
    error: torch.Tensor       # (...,) final foot position error, metres
    converged: torch.Tensor   # (...,) error <= tol
    iterations: int           # iterations run (for the whole batch)


def crouch(device: torch.device | str | None = None) -> torch.Tensor:
    """The numeric solvers' start, (4, 3): hip 0, shoulder -45 deg, knee 90 deg, on eq. (17)'s side."""
    k = torch.tensor(KNEE, dtype=DTYPE, device=device)
    return torch.stack([torch.zeros_like(k), -k * math.pi / 4, k * math.pi / 2], dim=-1)


def numeric_ik(robot: Robot, foot: torch.Tensor, init: torch.Tensor | None = None, damping: float = 1e-3,
               tol: float = 1e-10, max_iter: int = 30, clamp: bool = True, wrap: bool = True) -> NumericIK:
    """Damped least squares: theta += J^T (J J^T + lambda^2 I)^-1 (p* - FK(theta)), batched.

    foot: (..., 4, 3) targets in the hip frames. The start is `crouch()`. With clamp=True every
    step is projected back into the joint limits, which is also what keeps the iteration on the knee
    branch that eq. (17) picks for each leg. Without limits the angles are wrapped into (-pi, pi]
    after every step (wrap=False lets them wind up by many turns, which fools a sign test).
    """
    foot = _as_tensor("foot", foot, (4, 3))
    check_positive("damping", damping)
    check_positive("tol", tol)
    check_positive("max_iter", max_iter, integer=True)
    limits = robot.limits(foot.device)
    if init is None:
        init = crouch(foot.device)
    theta = _as_tensor("init", init, (4, 3), device=foot.device).expand_as(foot).clone()
    eye = torch.eye(3, dtype=DTYPE, device=foot.device)
    it = 0
    for it in range(1, max_iter + 1):
        chain = leg_chain(robot, theta)                    # one FK pass gives both p and J
        err = foot - chain[..., 4, :3, 3]
        if (err.norm(dim=-1) <= tol).all():
            it -= 1
            break
        jac = _jacobian(chain)
        # Damping keeps the step finite where J loses rank (leg straight, foot over the hip axis).
        step = jac.transpose(-1, -2) @ torch.linalg.solve(jac @ jac.transpose(-1, -2) + damping ** 2 * eye,
                                                          err[..., None])
        theta = theta + step[..., 0]
        if clamp:
            theta = torch.minimum(torch.maximum(theta, limits[..., 0]), limits[..., 1])
        elif wrap:
            theta = _wrap(theta)
    error = (foot - leg_fk(robot, theta)).norm(dim=-1)
    return NumericIK(theta, error, error <= tol, it)


def knee_flip_fraction(angles: torch.Tensor, converged: torch.Tensor, by: str = "sine") -> float:
    """Share of converged solutions (..., 4, 3) whose knee bends against eq. (17)'s sign.

    by="sine" reads the branch from sin(theta3), right for any number of turns; by="raw" tests the
    sign of theta3 itself, which is wrong once an iteration has wound theta3 past pi (a common mistake).
    """
    check_choice("by", by, ("sine", "raw"))
    k = torch.tensor(KNEE, dtype=DTYPE, device=angles.device)
    t3 = angles[..., 2]
    flipped = (torch.sin(t3) if by == "sine" else t3) * k < 0
    return float((flipped & converged).sum() / converged.sum().clamp_min(1))


# ---------------------------------------------------------------------------------------------
# 7. A trot, the paper's Table 3 example, sampled targets, and the measurements behind the claims
# ---------------------------------------------------------------------------------------------

def trot(robot: Robot, n_frames: int = 48, stride: float = 0.08, lift: float = 0.04, height: float = 0.18,
         cycles: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Body poses (T, 6) and world feet (T, 4, 3) of a straight trot: legs 1 & 3 swing in the first
    half cycle, 2 & 4 in the second (eq. 17's pairs); the body moves `stride` per cycle; a stance
    foot stays planted, a swing foot moves `stride` forward on a smooth-step path, `lift` high."""
    check_number("n_frames", n_frames, low=2, integer=True)
    check_positive("cycles", cycles, integer=True)
    for name, value in (("stride", stride), ("lift", lift), ("height", height)):
        check_positive(name, value)
    t = torch.arange(n_frames * cycles, dtype=DTYPE) / n_frames        # time in cycles
    poses = torch.zeros(len(t), 6, dtype=DTYPE)
    poses[:, 3], poses[:, 4] = stride * t, height
    offset = torch.tensor([0.0, 0.5, 0.0, 0.5], dtype=DTYPE)             # pair (1, 3) swings first
    phase = (t[:, None] + offset) % 1.0                                  # (T, 4): swing on [0, 0.5)
    swing = phase < 0.5
    u = torch.where(swing, 2 * phase, torch.ones_like(phase))            # progress through the swing
    smooth = u * u * (3 - 2 * u)                                         # zero speed at lift-off/touch-down
    steps_done = torch.floor(t[:, None] + offset)                        # full cycles behind this foot
    start = (steps_done - offset) * stride - stride / 4                 # where the swing began
    x = start + stride * smooth
    y = torch.where(swing, lift * torch.sin(math.pi * u), torch.zeros_like(u))
    feet = standing_feet(robot).expand(len(t), 4, 3).clone()
    feet[..., 0] += x
    feet[..., 1] = y
    return poses, feet


def body_sweep(s: torch.Tensor, height: float = 0.17) -> torch.Tensor:
    """Body poses (..., 6) on a closed path s in [0, 2 pi]: roll, yaw, pitch at 1, 2, 3 cycles, shift, bob."""
    s = torch.as_tensor(s, dtype=DTYPE)
    return torch.stack([0.25 * torch.sin(s), 0.3 * torch.sin(2 * s), 0.2 * torch.sin(3 * s),
                        0.02 * torch.sin(s), height + 0.02 * torch.cos(2 * s), 0.015 * torch.cos(s)], -1)


# The paper's Table 3, first example, as transcribed by a third party (dpeyton8): body at the origin
# pitched by psi = -15 deg, feet fixed 0.65 m below the hips; theta1 has one magnitude on legs 1 and 4
# and the other on legs 2 and 3. Which pair gets which value is not in the transcription.
TABLE3_PITCH_DEG = -15.0
TABLE3_DEPTH_M = 0.65
TABLE3_THETA1_DEG = (7.5883, 11.5735)


def table3_example(robot: Robot | None = None, pitch_deg: float = TABLE3_PITCH_DEG,
                   depth: float = TABLE3_DEPTH_M, eq15: str = "fixed") -> torch.Tensor:
    """Joint angles (4, 3) of the Table 3 example: feet planted `depth` below the hips of the level
    body, then the body pitched by `pitch_deg` about its centre. eq15="printed" swaps in theta1 as
    printed (the control). Returns angles for legs 1-4."""
    robot = robot or paper_robot()
    check_choice("eq15", eq15, ("fixed", "printed"))
    feet = hip_offsets(robot)[:, :3, 3].clone()
    feet[:, 1] = -depth
    pose = torch.tensor([0.0, 0.0, math.radians(pitch_deg), 0.0, 0.0, 0.0], dtype=DTYPE)
    local = feet_in_hip_frames(robot, pose, feet)
    angles = leg_ik(robot, local, check=False).angles
    if eq15 == "printed":
        angles = torch.cat([printed_eq15(robot, local)[..., None], angles[..., 1:]], -1)
    return angles


def table3_theta1_error_deg(angles: torch.Tensor) -> float:
    """Largest gap (deg) between |theta1| of legs {1, 4} and {2, 3} and the paper's two values.

    The transcription does not say which value belongs to which pair, so the pairs are matched in
    sorted order (which pair is larger is our inference, tested separately); a pair whose two legs
    disagree counts with its worse leg."""
    mag = torch.rad2deg(angles[..., 0].abs())
    pairs = torch.stack([mag[..., [0, 3]], mag[..., [1, 2]]], -2)        # (2 pairs, 2 legs)
    order = pairs.mean(-1).argsort()
    paper = torch.tensor(TABLE3_THETA1_DEG, dtype=DTYPE)
    return float((pairs[order] - paper[:, None]).abs().max())


def sample_reachable(robot: Robot, n: int, seed: int = 0, margin: float = 0.02,
                     device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n random configurations per leg, drawn uniformly inside the joint limits (shrunk by `margin`
    rad) on the paper's branch (foot below the shoulder, A > 0): returns (angles, feet), each (n, 4, 3),
    feet in the hip frames. Their IK solution on that branch is unique: IK(FK(theta)) = theta."""
    check_positive("n", n, integer=True)
    gen = seed_everything(seed)
    limits = robot.limits()
    lo, hi = limits[..., 0] + margin, limits[..., 1] - margin
    keep: list[torch.Tensor] = []
    total = 0
    while total < n:
        q = lo + (hi - lo) * torch.rand(4 * n, 4, 3, generator=gen, dtype=DTYPE)
        # Stay off the singular boundary: foot at least 1 cm below the shoulder line.
        a = robot.l2 * torch.cos(q[..., 1]) + robot.l3 * torch.cos(q[..., 1] + q[..., 2])
        q = q[(a > 0.01).all(-1)]
        keep.append(q)
        total += len(q)
    angles = torch.cat(keep)[:n].to(device)
    return angles, leg_fk(robot, angles)


def sample_in_limits(robot: Robot, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n configurations per leg drawn uniformly inside the joint limits, every branch included
    (foot above the shoulder too): (angles, feet), each (n, 4, 3). Each foot has a legal solution."""
    check_positive("n", n, integer=True)
    gen = seed_everything(seed)
    limits = robot.limits()
    q = limits[..., 0] + (limits[..., 1] - limits[..., 0]) * torch.rand(n, 4, 3, generator=gen, dtype=DTYPE)
    return q, leg_fk(robot, q)


def box_half_side(robot: Robot) -> float:
    return robot.l1 + robot.l2 + robot.l3 + 0.02     # the sampled cube spans the whole reach, and more


def sample_box(robot: Robot, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n targets per leg uniform in the cube |x|, |y|, |z| <= L1 + L2 + L3 + 2 cm around the hip, and
    whether each is truly unreachable: no branch of the unchecked closed form puts the foot there (a
    test independent of the reach formula). Returns (feet (n, 4, 3), unreachable (n, 4))."""
    check_positive("n", n, integer=True)
    gen = seed_everything(seed)
    r = box_half_side(robot)
    feet = (2 * torch.rand(n, 4, 3, generator=gen, dtype=DTYPE) - 1) * r
    miss = torch.stack([(leg_fk(robot, closed_form(robot, feet, k, h)) - feet).norm(dim=-1)
                        for k in (1.0, -1.0) for h in (1.0, -1.0)]).amin(0)
    return feet, miss > 1e-9


def d_only_unreachable(robot: Robot, foot: torch.Tensor) -> torch.Tensor:
    """The common, incomplete reach test: |D| > 1 only (it forgets x4^2 + y4^2 >= L1^2)."""
    x, y, z = foot.unbind(-1)
    d = (x * x + y * y - robot.l1 ** 2 + z * z - robot.l2 ** 2 - robot.l3 ** 2) / (2 * robot.l2 * robot.l3)
    return d.abs() > 1 + 1e-12


def run(n_targets: int = 2000, n_numeric: int = 250, seed: int = 0,
        robot: Robot | None = None, device: torch.device | str | None = None) -> dict[str, float]:
    """Every measurement behind the claims, as plain floats.

    `n_targets` random targets per leg for the closed-form checks; the first `n_numeric` of them per
    leg for the (much slower) numeric IK; then the rotation order, planted feet during a body
    sweep, a trot and the paper's Table 3 example. No timings: those are bench/ik_timing.py's.
    """
    robot = robot or Robot()
    check_positive("n_numeric", n_numeric, integer=True)
    dev = torch.device(device) if device is not None else default_device()
    angles, feet = sample_reachable(robot, n_targets, seed, device=dev)

    # FK(IK(p)) = p on the paper's branch; the printed eq. (15) is the control.
    solved = leg_ik(robot, feet)
    fk_err = (leg_fk(robot, solved) - feet).norm(dim=-1)
    printed = torch.cat([printed_eq15(robot, feet)[..., None], solved[..., 1:]], -1)
    printed_err = (leg_fk(robot, printed) - feet).norm(dim=-1)

    # Every in-limit configuration has a legal solution: with the fallback, without it.
    q_any, feet_any = sample_in_limits(robot, n_targets, seed + 1)
    feet_any = feet_any.to(dev)
    res = leg_ik(robot, feet_any, check=False)
    solved_any = res.legal & ((leg_fk(robot, res.angles) - feet_any).norm(dim=-1) <= 1e-9)
    only_paper = leg_ik(robot, feet_any, check=False, fallback=False).legal

    # Reachability: a cube of targets around each hip; the full test against |D| > 1 alone.
    box, truly_out = sample_box(robot, n_targets, seed + 2)
    box, truly_out = box.to(dev), truly_out.to(dev)
    flagged = ~reachable(robot, box)
    n_out = truly_out.sum().clamp_min(1)

    # Numeric IK: agreement, knee flips counted by the sine (wrapped) and by the raw sign (unwrapped).
    sub, sub_solved = feet[:n_numeric], solved[:n_numeric]
    num = numeric_ik(robot, sub)
    diff = (num.angles - sub_solved).abs().amax(-1)
    theta2, theta3 = num.angles[..., 1], num.angles[..., 2]
    below = robot.l2 * torch.cos(theta2) + robot.l3 * torch.cos(theta2 + theta3) > 0  # the paper's branch
    same_branch = num.converged & below
    free = numeric_ik(robot, sub, clamp=False)                     # no limits: knees may flip
    wound = numeric_ik(robot, sub, clamp=False, wrap=False)        # and nobody wraps the angles
    n_conv = num.converged.sum().clamp_min(1)

    # The order of eq. (4) matters: solve in one order, build the robot in the other.
    stand = standing_feet(robot).to(dev)
    s = torch.linspace(0, 2 * math.pi, 73, dtype=DTYPE, device=dev)
    sweep = body_sweep(s)
    q_sweep = body_ik(robot, sweep, stand)
    planted_err = (robot_points(robot, sweep, q_sweep)[..., 3, :] - stand).norm(dim=-1)
    q_zyx = body_ik(robot, sweep, stand, order="zyx", check=False).angles
    order_err = (robot_points(robot, sweep, q_zyx)[..., 3, :] - stand).norm(dim=-1)
    pose = torch.tensor([math.radians(15), math.radians(20), math.radians(10), 0.0, 0.17, 0.0],
                        dtype=DTYPE, device=dev)
    order_diff = (body_ik(robot, pose, stand, "xyz") - body_ik(robot, pose, stand, "zyx")).abs().max()

    poses, trot_feet = trot(robot)
    poses, trot_feet = poses.to(dev), trot_feet.to(dev)
    q_trot = body_ik(robot, poses, trot_feet)                             # raises if no legal solution
    trot_err = (robot_points(robot, poses, q_trot)[..., 3, :] - trot_feet).norm(dim=-1)

    return {
        "n_targets": 4 * n_targets,
        "fk_ik_max_error_m": float(fk_err.max()),
        "printed_eq15_foot_error_m": float(printed_err.median()),
        "ik_fk_max_angle_error_rad": float((solved - angles).abs().max()),
        "in_limit_solved_fraction": float(solved_any.double().mean()),
        "paper_branch_only_solved_fraction": float(only_paper.double().mean()),
        "unreachable_flagged_fraction": float((flagged & truly_out).sum() / n_out),
        "d_only_flagged_fraction": float((d_only_unreachable(robot, box) & truly_out).sum() / n_out),
        "reach_cube_half_side_m": box_half_side(robot),
        "false_alarm_fraction": float((flagged & ~truly_out).sum() / (~truly_out).sum().clamp_min(1)),
        "numeric_converged_fraction": float(num.converged.double().mean()),
        "numeric_agreement_fraction": float(((diff < 1e-6) & num.converged).sum() / n_conv),
        "numeric_other_solution_fraction": float((num.converged & ~below).sum() / n_conv),
        "numeric_same_branch_max_diff_rad": float(diff[same_branch].max()) if same_branch.any() else math.nan,
        "unclamped_knee_flip_fraction": knee_flip_fraction(free.angles, free.converged),
        "clamped_knee_flip_fraction": knee_flip_fraction(num.angles, num.converged),
        "raw_sign_knee_flip_fraction": knee_flip_fraction(wound.angles, wound.converged, by="raw"),
        "unwrapped_max_abs_angle_rad": float(wound.angles.abs().max()),
        "wrapped_max_abs_angle_rad": float(free.angles.abs().max()),
        "planted_max_error_m": float(planted_err.max()),
        "order_mismatch_planted_error_m": float(order_err.max()),
        "order_max_angle_diff_deg": math.degrees(float(order_diff)),
        "trot_max_foot_error_m": float(trot_err.max()),
        "table3_theta1_max_error_deg": table3_theta1_error_deg(table3_example()),
        "table3_printed_eq15_error_deg": table3_theta1_error_deg(table3_example(eq15="printed")),
    }
