"""A small 2-D rigid-body engine in image space: the simulator behind `minimal_impls.physgen`.

PhysGen (Liu et al., ECCV 2024, Sec. 3.2) simulates the perceived objects with Pymunk, in pixel
coordinates (1 px = 1 cm, y pointing down, g = 980 px/s^2). This file writes such an engine out so
that every line can be read; it is not the paper's contribution, which is why it lives apart from
`physgen.py`. It integrates the paper's Eq. (1),

    d/dt (x, theta, v, omega) = (v, omega, F / M, tau / I),

with the time stepping of Eq. (2), and resolves contacts by impulses:

- bodies: circles and oriented boxes, mass = density x area, inertia of the solid shape;
- the room: the image border (left, right, ground, ceiling) as static walls with their own
  friction and elasticity (the authors' scenes set a "ground" friction and elasticity);
- materials combine by product, mu = mu_a mu_b and e = e_a e_b (Pymunk's rule);
- contacts: speculative (found before they touch, so nothing tunnels), solved by sequential
  impulses with warm starting (Catto 2005, as in Box2D/Chipmunk), friction in the Coulomb cone;
- restitution only at *touching* contacts: a step is cut at the time of impact, so a ball bounces
  on the floor, not a fraction of a pixel above it (which would add energy at every bounce);
- flight: the position update is exact for the constant acceleration within a step,
  x += dt (v + a dt / 2), v += a dt, so a projectile follows its parabola to rounding error.
  `flight="euler"` gives Pymunk's semi-implicit Euler, x += dt (v + a dt), for comparison.

Closed-form experiments at the end (drop and bounce, sliding to rest, sliding to rolling,
collision momentum, free flight) are what the tests and the notebook check it against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from minimal_impls.common import check_arg, check_choice, check_number, check_positive

GRAVITY = 980.0                    # px/s^2: 9.8 m/s^2 at 1 px = 1 cm (the paper's App. A.2)
DT = 1.0 / 240.0                   # our step; the authors' code uses 1/60 s (fact sheet Sec. 3.5)
FLIGHT = {"exact": 0.5, "euler": 1.0}   # x += dt (v + k a dt): k = 1/2 exact, 1 semi-implicit Euler


def rot(theta: np.ndarray | float) -> np.ndarray:
    """2-D rotation matrices R(theta), shape (..., 2, 2). With y pointing down, +theta is clockwise."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2-D cross product a_x b_y - a_y b_x (a scalar: the z of the 3-D cross product)."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def sdf(kind: str, points: np.ndarray, center: np.ndarray, size: np.ndarray, angle: float) -> np.ndarray:
    """Signed distance (px, negative inside) from `points` (..., 2) to a circle or an oriented box."""
    local = (points - center) @ rot(angle)          # world -> body frame is R(-angle) = R^T
    if kind == "circle":
        return np.linalg.norm(local, axis=-1) - size[0] / 2
    q = np.abs(local) - np.asarray(size) / 2
    return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(-1), 0.0)


def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How two surfaces' friction (or elasticity) make the pair's: the product, as in Pymunk."""
    return a * b


# ---------------------------------------------------------------------------------------------
# Bodies and the world
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Primitive:
    """A simulation shape: a circle (size = (d, d)) or an oriented box (full width, height)."""

    kind: str
    center: np.ndarray          # (2,) px
    size: np.ndarray            # (2,) px
    angle: float                # radians
    iou: float = 1.0            # IoU with the mask it was fitted to (set by perception)

    @property
    def area(self) -> float:
        w, h = self.size
        return math.pi * w * w / 4 if self.kind == "circle" else float(w * h)


@dataclass(frozen=True)
class Material:
    name: str
    density: float              # mass units per px^2
    friction: float             # Coulomb coefficient mu
    restitution: float          # e: ratio of separating to approaching normal speed


WALL_NORMALS = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])   # into the room
# left x=0, right x=W, ground y=H, ceiling y=0: a wall is the half-plane n.x >= offset


@dataclass
class World:
    size: tuple[int, int]                # (H, W) of the room (the image); its border is the walls
    kind: np.ndarray                     # (N,) 0 = circle, 1 = box
    half: np.ndarray                     # (N, 2) half extents (a circle's are (r, r))
    pos: np.ndarray                      # (N, 2)
    angle: np.ndarray                    # (N,)
    vel: np.ndarray                      # (N, 2)
    omega: np.ndarray                    # (N,)
    inv_mass: np.ndarray                 # (N,) 1 / m (walls are the only static bodies)
    inv_inertia: np.ndarray              # (N,)
    friction: np.ndarray                 # (N,)
    restitution: np.ndarray              # (N,)
    gravity: np.ndarray = field(default_factory=lambda: np.array([0.0, GRAVITY]))
    wall_friction: float = 1.0           # the authors' "ground friction" (their default 1)
    wall_restitution: float = 0.0        # the authors' "ground elasticity" (their default 0)
    time: float = 0.0
    warm: tuple | None = None            # last step's contact impulses, for warm starting
    carry: tuple | None = None           # (dv, domega) the next contact solve cancels (see `step`)

    @property
    def n(self) -> int:
        return len(self.kind)

    @property
    def wall_offsets(self) -> np.ndarray:
        height, width = self.size
        return np.array([0.0, -width, -height, 0.0])

    mass = property(lambda self: 1.0 / self.inv_mass)
    inertia = property(lambda self: 1.0 / self.inv_inertia)


def make_world(primitives: Sequence[Primitive], materials: Sequence[Material], size: tuple[int, int],
               gravity: float = GRAVITY, wall_friction: float = 1.0, wall_restitution: float = 0.0) -> World:
    """Bodies from shapes and materials: mass = density x area, and the inertia of the shape.

    The walls' defaults are the authors' (`ground_friction` 1, `ground_elasticity` 0, fact sheet
    Sec. 3.2): with elasticity 0 nothing bounces off the room, whatever its own e. A scene that
    wants bounces says so (`wall_restitution=1` makes the pair's e the body's own).
    """
    check_arg(len(primitives) == len(materials) and len(primitives) > 0, "materials",
              f"one material per primitive ({len(primitives)})", len(materials))
    check_number("wall_friction", wall_friction, low=0)
    check_number("wall_restitution", wall_restitution, low=0, high=1)
    kind = np.array([0 if p.kind == "circle" else 1 for p in primitives])
    half = np.stack([np.asarray(p.size, float) / 2 for p in primitives])
    mass = np.array([m.density * p.area for p, m in zip(primitives, materials)])
    check_arg(bool(np.all(mass > 0)), "materials", "positive densities", [m.density for m in materials])
    inertia = np.where(kind == 0, 0.5 * mass * half[:, 0] ** 2,                 # solid disc
                       mass * ((2 * half) ** 2).sum(1) / 12.0)                  # solid box
    n = len(primitives)
    return World(size=tuple(size), kind=kind, half=half,
                 pos=np.stack([np.asarray(p.center, float) for p in primitives]),
                 angle=np.array([p.angle for p in primitives], float),
                 vel=np.zeros((n, 2)), omega=np.zeros(n), inv_mass=1.0 / mass, inv_inertia=1.0 / inertia,
                 friction=np.array([m.friction for m in materials], float),
                 restitution=np.array([m.restitution for m in materials], float),
                 gravity=np.array([0.0, gravity]), wall_friction=float(wall_friction),
                 wall_restitution=float(wall_restitution))


def body(kind: str, center: Sequence[float], size: Sequence[float], angle: float = 0.0, density: float = 1.0,
         friction: float = 0.5, restitution: float = 0.5) -> tuple[Primitive, Material]:
    """A hand-made body, for experiments that bypass perception."""
    check_choice("kind", kind, ("circle", "box"))
    check_arg(len(size) == 2 and min(size) > 0, "size", "a positive (width, height)", tuple(size))
    prim = Primitive(kind, np.asarray(center, float), np.asarray(size, float), float(angle), 1.0)
    return prim, Material(kind, density, friction, restitution)


def box_corners(world: World) -> np.ndarray:
    """(N, 4, 2) corners of every body's box (for circles: of the bounding square; unused)."""
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    local = signs[None] * world.half[:, None, :]
    return world.pos[:, None, :] + np.einsum("nij,nkj->nki", rot(world.angle), local)


# ---------------------------------------------------------------------------------------------
# Contacts
# ---------------------------------------------------------------------------------------------

@dataclass
class Contacts:
    """M contact points. The normal points from body a to body b; b = -1 is a wall."""

    a: np.ndarray          # (M,) int
    b: np.ndarray          # (M,) int
    normal: np.ndarray     # (M, 2)
    point: np.ndarray      # (M, 2)
    depth: np.ndarray      # (M,) > 0 overlap, < 0 gap (speculative contact)
    impulse: np.ndarray | None = None   # (M,) normal impulse the solver applied (set by step)

    def __len__(self) -> int:
        return len(self.a)

    @staticmethod
    def concat(parts: Sequence["Contacts"]) -> "Contacts":
        """All contacts of a step's sub-steps, with their impulses."""
        join = lambda name: np.concatenate([getattr(c, name) for c in parts])  # noqa: E731
        return Contacts(join("a"), join("b"), join("normal"), join("point"), join("depth"), join("impulse"))


def _circle_circle(ca: np.ndarray, ra: float, cb: np.ndarray, rb: float) -> list[tuple]:
    d = cb - ca
    dist = float(np.hypot(*d))
    n = d / dist if dist > 1e-9 else np.array([0.0, -1.0])
    return [(n, ca + n * (ra - (ra + rb - dist) / 2), ra + rb - dist)]


def _box_circle(cb: np.ndarray, ang: float, hb: np.ndarray, cc: np.ndarray, r: float) -> list[tuple]:
    """Closest point on the box to the circle's centre; normal from box to circle."""
    R = rot(ang)
    local = R.T @ (cc - cb)
    q = np.clip(local, -hb, hb)
    if np.all(q == local):                        # centre inside the box: leave by the nearest face
        k = int(np.argmin(hb - np.abs(local)))
        n_local = np.zeros(2)
        n_local[k] = 1.0 if local[k] >= 0 else -1.0
        depth = r + hb[k] - abs(local[k])
        q = local.copy()
        q[k] = n_local[k] * hb[k]
    else:
        d = local - q
        dist = float(np.hypot(*d))
        n_local, depth = d / dist, r - dist
    return [(R @ n_local, cb + R @ q, depth)]


def _clip_segment(v1: np.ndarray, v2: np.ndarray, s1: float, s2: float, lim: float) -> list[np.ndarray]:
    """The part of segment v1-v2 whose lateral coordinate s (s1 at v1, s2 at v2) lies in [-lim, lim]."""
    if abs(s2 - s1) < 1e-12:
        return [v1, v2] if abs(s1) <= lim else []
    t = sorted(((-lim - s1) / (s2 - s1), (lim - s1) / (s2 - s1)))
    t0, t1 = max(0.0, t[0]), min(1.0, t[1])
    return [] if t0 > t1 else [v1 + t0 * (v2 - v1), v1 + t1 * (v2 - v1)]


def _box_box(ca: np.ndarray, aa: float, ha: np.ndarray, cb: np.ndarray, ab: float, hb: np.ndarray,
             margin: float) -> list[tuple]:
    """Separating-axis test, then incident-edge clipping against the reference face (Box2D-lite).

    Of the four face normals, the axis of least overlap is the contact normal; the face of that
    box is the reference face and the other box's most anti-parallel edge is clipped to its width.
    """
    Ra, Rb, d = rot(aa), rot(ab), cb - ca
    best = None
    for owner, R in ((0, Ra), (1, Rb)):
        for k in (0, 1):
            u = R[:, k]
            ea = float(np.abs(Ra.T @ u) @ ha)
            eb = float(np.abs(Rb.T @ u) @ hb)
            sep = abs(float(d @ u)) - ea - eb
            if best is None or sep > best[0] + 1e-9:
                best = (sep, owner, k, u * (1.0 if d @ u >= 0 else -1.0))
    sep, owner, k, n = best
    if sep > margin:
        return []
    if owner == 0:
        cr, Rr, hr, ci, Ri, hi, nr = ca, Ra, ha, cb, Rb, hb, n
    else:
        cr, Rr, hr, ci, Ri, hi, nr = cb, Rb, hb, ca, Ra, ha, -n
    # Incident edge: the face of the other box whose outward normal is most against nr.
    normals = np.concatenate([Ri.T, -Ri.T])                       # rows: +x, +y, -x, -y
    j = int(np.argmin(normals @ nr))
    axis, sign = j % 2, (1.0 if j < 2 else -1.0)
    mid = ci + Ri[:, axis] * sign * hi[axis]
    along = Ri[:, 1 - axis] * hi[1 - axis]
    v1, v2 = mid - along, mid + along
    t = Rr[:, 1 - k]                                             # lateral axis of the reference face
    pts = _clip_segment(v1, v2, float((v1 - cr) @ t), float((v2 - cr) @ t), float(hr[1 - k]))
    out = []
    for p in pts:
        depth = float(hr[k] - (p - cr) @ nr)                     # below the reference face
        if depth >= -margin:
            out.append((n, p + nr * depth / 2, depth))           # midway between the two surfaces
    return out


def detect_contacts(world: World, margin: float = 0.0) -> Contacts:
    """Every contact with overlap > -margin: walls vectorised over bodies, then body pairs.

    A positive margin makes *speculative* contacts: points that are not touching yet but could
    within one step. The solver lets them close their gap and no more, so nothing tunnels.
    """
    a, b, nrm, pt, dep = [], [], [], [], []
    offsets = world.wall_offsets
    circ, boxes = np.flatnonzero(world.kind == 0), np.flatnonzero(world.kind == 1)
    # circles vs walls: gap = n.x - offset - r, for all (circle, wall) pairs at once
    gap = world.pos[circ] @ WALL_NORMALS.T - offsets - world.half[circ, :1]
    for i, w in zip(*np.nonzero(gap < margin)):
        a.append(circ[i]); b.append(-1); nrm.append(-WALL_NORMALS[w])
        pt.append(world.pos[circ[i]] - WALL_NORMALS[w] * world.half[circ[i], 0]); dep.append(-gap[i, w])
    # box corners vs walls
    corners = box_corners(world)[boxes]                              # (B, 4, 2)
    gap = corners @ WALL_NORMALS.T - offsets                          # (B, 4, walls)
    for i, c, w in zip(*np.nonzero(gap < margin)):
        a.append(boxes[i]); b.append(-1); nrm.append(-WALL_NORMALS[w])
        pt.append(corners[i, c]); dep.append(-gap[i, c, w])
    # body pairs: broad phase on bounding circles, then the exact test
    bound = np.where(world.kind == 0, world.half[:, 0], np.linalg.norm(world.half, axis=1))
    dist = np.linalg.norm(world.pos[:, None] - world.pos[None], axis=-1)
    near = np.triu(dist <= bound[:, None] + bound[None] + margin, k=1)
    for i, j in zip(*np.nonzero(near)):
        ki, kj = world.kind[i], world.kind[j]
        if ki == 0 and kj == 0:
            found = _circle_circle(world.pos[i], world.half[i, 0], world.pos[j], world.half[j, 0])
        elif ki == 1 and kj == 0:
            found = _box_circle(world.pos[i], world.angle[i], world.half[i], world.pos[j], world.half[j, 0])
        elif ki == 0 and kj == 1:
            found = [(-n, p, dd) for n, p, dd in
                     _box_circle(world.pos[j], world.angle[j], world.half[j], world.pos[i], world.half[i, 0])]
        else:
            found = _box_box(world.pos[i], world.angle[i], world.half[i],
                             world.pos[j], world.angle[j], world.half[j], margin)
        for n, p, dd in found:
            if dd > -margin:
                a.append(i); b.append(j); nrm.append(n); pt.append(p); dep.append(dd)
    m = len(a)
    return Contacts(np.array(a, int), np.array(b, int), np.array(nrm, float).reshape(m, 2),
                    np.array(pt, float).reshape(m, 2), np.array(dep, float), np.zeros(m))


# ---------------------------------------------------------------------------------------------
# The contact solver and one time step
# ---------------------------------------------------------------------------------------------

@dataclass
class _Kinematics:
    """Per-contact quantities the solver and the time-of-impact search share."""

    static: np.ndarray; bi: np.ndarray; ra: np.ndarray; rb: np.ndarray   # noqa: E702
    vn: np.ndarray        # relative normal velocity of b's contact point w.r.t. a's (< 0: approaching)
    an: np.ndarray        # relative normal acceleration from gravity and pushes
    e: np.ndarray         # combined restitution
    mu: np.ndarray        # combined friction


def _kinematics(world: World, c: Contacts, acc: np.ndarray) -> _Kinematics:
    static = c.b < 0
    bi = np.where(static, 0, c.b)                                   # safe index; masked below
    ra = c.point - world.pos[c.a]
    rb = np.where(static[:, None], 0.0, c.point - world.pos[bi])
    # velocity of a contact point: v + omega x r, with omega x r = omega (-r_y, r_x)
    va = world.vel[c.a] + world.omega[c.a, None] * np.stack([-ra[:, 1], ra[:, 0]], 1)
    vb = np.where(static[:, None], 0.0, world.vel[bi] + world.omega[bi, None] * np.stack([-rb[:, 1], rb[:, 0]], 1))
    ab = np.where(static[:, None], 0.0, acc[bi])
    e = combine(world.restitution[c.a], np.where(static, world.wall_restitution, world.restitution[bi]))
    mu = combine(world.friction[c.a], np.where(static, world.wall_friction, world.friction[bi]))
    return _Kinematics(static, bi, ra, rb, ((vb - va) * c.normal).sum(1), ((ab - acc[c.a]) * c.normal).sum(1), e, mu)


def time_of_impact(c: Contacts, kin: _Kinematics, h: float, bounce_speed: float, touch: float) -> float:
    """The earliest time in (0, h] at which a separated contact closes fast enough to bounce.

    Along the normal the gap moves as gap(t) = gap + vn t + an t^2 / 2 (exact for translation
    under constant acceleration; rotation is ignored, and a later sub-step closes what is left).
    Returns h when no such impact happens within the step.
    """
    gap = -c.depth
    a2, b1 = 0.5 * kin.an, kin.vn
    disc = b1 ** 2 - 4 * a2 * gap
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.maximum(disc, 0.0))
        roots = np.stack([(-b1 - sq) / (2 * a2), (-b1 + sq) / (2 * a2)])
        linear = -gap / b1
    roots = np.where(np.abs(a2) > 1e-12, roots, linear)
    roots = np.where((disc >= 0) & (roots > 0), roots, np.inf).min(0)
    with np.errstate(invalid="ignore"):
        speed = -(kin.vn + kin.an * roots)                      # approach speed at impact
    ok = (gap > touch) & (roots <= h) & (speed > bounce_speed) & (kin.e > 0)
    return float(roots[ok].min()) if ok.any() else h


def _solve_velocities(world: World, c: Contacts, kin: _Kinematics, h: float, half: float, iterations: int,
                      bounce: np.ndarray, contact_torque: bool = True) -> None:
    """Sequential impulses (projected Gauss-Seidel) on the contact constraints.

    Each pass visits the contacts one by one and applies the normal impulse that reaches the
    target normal velocity, clamped so the *accumulated* impulse stays >= 0 (contacts push, never
    pull), then the friction impulse, clamped to the Coulomb cone |lambda_t| <= mu lambda_n.
    Gauss-Seidel (not a vectorised Jacobi update) because each impulse must see the velocities the
    previous ones produced. Warm starting begins from last step's impulses at the same contact,
    so the passes of successive steps add up and a stack settles with a dozen passes per step.
    """
    m = len(c)
    if m == 0:
        world.warm = None
        return
    im_a, ii_a = world.inv_mass[c.a], world.inv_inertia[c.a]
    im_b = np.where(kin.static, 0.0, world.inv_mass[kin.bi])
    ii_b = np.where(kin.static, 0.0, world.inv_inertia[kin.bi])
    if not contact_torque:       # the mistake: each impulse acts at the centre of mass, no lever arm
        ii_a, ii_b = np.zeros(m), np.zeros(m)
    ra, rb = kin.ra, kin.rb
    t = np.stack([-c.normal[:, 1], c.normal[:, 0]], 1)
    # Effective masses along n and t: the inverse of the impulse that changes the relative
    # contact velocity by 1 px/s, translation and rotation of both bodies included.
    k_n = im_a + im_b + ii_a * cross(ra, c.normal) ** 2 + ii_b * cross(rb, c.normal) ** 2
    k_t = im_a + im_b + ii_a * cross(ra, t) ** 2 + ii_b * cross(rb, t) ** 2
    # Target normal velocity. Speculative: over the step the bodies move by h (v + half a h), so
    # they may close the gap and no more: vn >= -gap/h - half an h. Bouncing: vn+ = -e vn-.
    target = np.maximum(-c.depth, 0.0) / -h - half * kin.an * h
    target[bounce] = np.maximum(target[bounce], -kin.e[bounce] * kin.vn[bounce])

    # Warm start: the same pair, a point within 1 px of last step's, and not a fresh bounce;
    # impulses scale with the step length, which sub-steps change.
    acc_n, acc_t = np.zeros(m), np.zeros(m)
    if world.warm is not None:
        pa, pb, pp, pn, pt, h_prev = world.warm
        d = np.linalg.norm(c.point[:, None] - pp[None], axis=-1)
        d[(c.a[:, None] != pa[None]) | (c.b[:, None] != pb[None])] = np.inf
        j = d.argmin(1)
        ok = (d[np.arange(m), j] < 1.0) & ~bounce
        acc_n[ok], acc_t[ok] = pn[j[ok]] * h / h_prev, pt[j[ok]] * h / h_prev

    # Plain Python floats in the inner loop: numpy's per-call overhead dominates at this size.
    vel, om = world.vel.tolist(), world.omega.tolist()
    A, B = c.a.tolist(), c.b.tolist()
    nx, ny = c.normal[:, 0].tolist(), c.normal[:, 1].tolist()
    rax, ray, rbx, rby = ra[:, 0].tolist(), ra[:, 1].tolist(), rb[:, 0].tolist(), rb[:, 1].tolist()
    ima, iia, imb, iib = im_a.tolist(), ii_a.tolist(), im_b.tolist(), ii_b.tolist()
    kn, kt, tg, muL = k_n.tolist(), k_t.tolist(), target.tolist(), kin.mu.tolist()
    acc_n, acc_t = acc_n.tolist(), acc_t.tolist()

    def rel(i: int) -> tuple[float, float]:
        a, b = A[i], B[i]
        vbx, vby, wb = (vel[b][0], vel[b][1], om[b]) if b >= 0 else (0.0, 0.0, 0.0)
        return (vbx - wb * rby[i] - vel[a][0] + om[a] * ray[i],
                vby + wb * rbx[i] - vel[a][1] - om[a] * rax[i])

    def apply(i: int, px: float, py: float) -> None:     # impulse (px, py) on b, minus it on a
        a, b = A[i], B[i]
        vel[a][0] -= px * ima[i]; vel[a][1] -= py * ima[i]
        om[a] -= (rax[i] * py - ray[i] * px) * iia[i]
        if b >= 0:
            vel[b][0] += px * imb[i]; vel[b][1] += py * imb[i]
            om[b] += (rbx[i] * py - rby[i] * px) * iib[i]

    for i in range(m):                                    # replay the warm-start impulses
        apply(i, acc_n[i] * nx[i] - acc_t[i] * ny[i], acc_n[i] * ny[i] + acc_t[i] * nx[i])
    for _ in range(iterations):
        for i in range(m):
            dvx, dvy = rel(i)
            lam = (tg[i] - (dvx * nx[i] + dvy * ny[i])) / kn[i]
            new = max(acc_n[i] + lam, 0.0)               # accumulated normal impulse >= 0
            lam, acc_n[i] = new - acc_n[i], new
            apply(i, lam * nx[i], lam * ny[i])
            dvx, dvy = rel(i)                             # friction along t = (-n_y, n_x)
            lam = -(dvx * -ny[i] + dvy * nx[i]) / kt[i]
            bound = muL[i] * acc_n[i]
            new = min(max(acc_t[i] + lam, -bound), bound)  # inside the Coulomb cone
            lam, acc_t[i] = new - acc_t[i], new
            apply(i, -lam * ny[i], lam * nx[i])
    world.vel[:], world.omega[:] = np.array(vel), np.array(om)
    c.impulse = np.array(acc_n)
    world.warm = (c.a, c.b, c.point, c.impulse, np.array(acc_t), h)


def _project_positions(world: World, slop: float, beta: float, passes: int) -> None:
    """Move overlapping bodies apart along the contact normal, sharing the move by inverse mass.

    Positions only: velocities are untouched, so this removes drift without adding kinetic
    energy (a velocity-level "Baumgarte" push would make bounces gain energy).
    """
    for _ in range(passes):
        c = detect_contacts(world)
        deep = np.flatnonzero(c.depth > slop)
        if len(deep) == 0:
            return
        moved = np.zeros_like(world.pos)          # displacement since this detection
        for i in deep:                            # Gauss-Seidel again: shared bodies see earlier moves
            a, b = c.a[i], c.b[i]
            im_b = world.inv_mass[b] if b >= 0 else 0.0
            w = world.inv_mass[a] + im_b
            if w == 0:
                continue
            apart = (moved[b] if b >= 0 else 0.0) - moved[a]
            depth = c.depth[i] - float(apart @ c.normal[i])
            corr = beta * max(depth - slop, 0.0) / w * c.normal[i]
            moved[a] -= corr * world.inv_mass[a]
            world.pos[a] -= corr * world.inv_mass[a]
            if b >= 0:
                moved[b] += corr * im_b
                world.pos[b] += corr * im_b


def step(world: World, dt: float = DT, force: np.ndarray | None = None, torque: np.ndarray | None = None,
         iterations: int = 12, bounce_speed: float = 10.0, slop: float = 0.05, flight: str = "exact",
         restitution_at: str = "touch", max_substeps: int = 4, touch: float = 1e-3,
         contact_torque: bool = True) -> Contacts:
    """Advance `world` by `dt` (Eq. 2 of the paper, one term of the sum); return the contacts used.

    Within a (sub-)step of length h, with a = g + F/M and alpha = tau/I constant:
    1. contacts (speculative: within the distance bodies can travel in h) and their impulses;
    2. positions x += h (v + a h/2), angles likewise; then velocities v += a h;
    3. overlap left beyond `slop` is projected out (positions only).
    With `restitution_at="touch"` a contact bounces only when it touches: if a separated contact
    would close within the step fast enough to bounce, the step is first cut at that time of
    impact. `restitution_at="speculative"` bounces as soon as the gap can close within the step,
    so the body turns round early, above the surface: a classic bug that gains energy each bounce.
    `contact_torque=False` applies every contact impulse at the bodies' centres of mass (no
    r x J torque): linear momentum is still kept, angular momentum is not.
    """
    check_positive("dt", dt)
    check_choice("flight", flight, tuple(FLIGHT))
    check_choice("restitution_at", restitution_at, ("touch", "speculative"))
    n = world.n
    f = np.zeros((n, 2)) if force is None else np.asarray(force, float)
    tau = np.zeros(n) if torque is None else np.asarray(torque, float)
    check_arg(f.shape == (n, 2), "force", f"shape ({n}, 2)", f.shape)
    check_arg(tau.shape == (n,), "torque", f"shape ({n},)", tau.shape)
    acc = world.gravity + f * world.inv_mass[:, None]
    alpha = tau * world.inv_inertia
    half = FLIGHT[flight]
    if world.carry is not None:                   # the solver's own velocity (see the end of step)
        world.vel += world.carry[0]
        world.omega += world.carry[1]
        world.carry = None
    remaining, parts = dt, []
    for sub in range(max_substeps):
        reach = np.linalg.norm(world.vel + acc * remaining, axis=1) + np.linalg.norm(world.vel, axis=1)
        reach += (np.abs(world.omega) + np.abs(alpha) * remaining) * np.linalg.norm(world.half, axis=1)
        c = detect_contacts(world, margin=float(reach.max(initial=0.0)) * remaining + 0.5)
        kin = _kinematics(world, c, acc)
        h = remaining
        if restitution_at == "touch":
            if sub < max_substeps - 1:
                h = time_of_impact(c, kin, remaining, bounce_speed, touch)
            bounce = (-c.depth <= touch) & (kin.vn < -bounce_speed) & (kin.e > 0)
        else:
            bounce = (kin.vn < -bounce_speed) & (-kin.vn * h >= -c.depth) & (kin.e > 0)
        _solve_velocities(world, c, kin, h, half, iterations, bounce, contact_torque)
        world.pos += h * (world.vel + half * acc * h)
        world.angle += h * (world.omega + half * alpha * h)
        world.vel += acc * h
        world.omega += alpha * h
        _project_positions(world, slop, beta=0.8, passes=3)
        world.time += h
        remaining -= h
        parts.append(c)
        if remaining <= 1e-9 * dt:
            break
    # A body held by a contact moved by h (v_s + half a h), but ends at v_s + a h: g h / 2 into the
    # floor at rest, which the next contact solve cancels. Not motion: it reports displacement / h
    # (0 at rest, like Pymunk) and carries (1 - half) a h into the next solve (dynamics unchanged).
    held = np.zeros(n, bool)
    if len(c):
        pushed = c.impulse > 0
        held[c.a[pushed]] = True
        held[c.b[pushed & (c.b >= 0)]] = True
    dv = np.where(held[:, None], (1.0 - half) * acc * h, 0.0)
    dw = np.where(held, (1.0 - half) * alpha * h, 0.0)
    world.vel -= dv
    world.omega -= dw
    world.carry = (dv, dw) if held.any() else None
    return Contacts.concat(parts)


# ---------------------------------------------------------------------------------------------
# The user's push and a whole rollout
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Push:
    """The user's control (the paper's input condition): a force and torque on one object.

    `force` is in units of the object's own weight m g (so (5, 0) pushes right with five times its
    weight), `torque` in units of m g times its bounding radius, both held for `duration` seconds.
    """

    target: int
    force: tuple[float, float]
    torque: float = 0.0
    duration: float = 0.05


@dataclass
class Trajectory:
    times: np.ndarray          # (T,)
    pos: np.ndarray            # (T, N, 2)
    angle: np.ndarray          # (T, N)
    vel: np.ndarray            # (T, N, 2)
    omega: np.ndarray          # (T, N)
    first_contact: np.ndarray  # (N, N) time of the first touch between bodies i and j (inf: never)
    max_penetration: float     # deepest overlap seen at the start of any step, px

    def first_hit(self, target: int) -> int:
        """The body that `target` touched first (-1: none)."""
        t = self.first_contact[target]
        return int(np.argmin(t)) if np.isfinite(t).any() else -1


def simulate(world: World, pushes: Sequence[Push] = (), duration: float = 2.0, dt: float = DT,
             frame_every: int = 12, **step_options) -> Trajectory:
    """Roll the world forward, recording every `frame_every`-th state (frame 0 = initial state)."""
    check_positive("duration", duration)
    check_positive("dt", dt)
    check_positive("frame_every", frame_every, integer=True)
    for p in pushes:
        check_arg(isinstance(p.target, (int, np.integer)) and 0 <= p.target < world.n, "push.target",
                  f"an object index in [0, {world.n})", p.target)
        check_positive("push.duration", p.duration)
    weight = world.mass * GRAVITY                  # pushes are in units of the nominal weight m g
    size = np.where(world.kind == 0, world.half[:, 0], np.linalg.norm(world.half, axis=1))
    n_steps = int(round(duration / dt))
    first = np.full((world.n, world.n), np.inf)
    rec: dict[str, list] = {"t": [], "pos": [], "angle": [], "vel": [], "omega": []}
    max_pen = 0.0

    def snapshot() -> None:
        for key, val in (("t", world.time), ("pos", world.pos), ("angle", world.angle),
                         ("vel", world.vel), ("omega", world.omega)):
            rec[key].append(np.copy(val))

    snapshot()
    for s in range(n_steps):
        force, torque = np.zeros((world.n, 2)), np.zeros(world.n)
        for p in pushes:
            if s * dt < p.duration:
                force[p.target] += np.asarray(p.force, float) * weight[p.target]
                torque[p.target] += p.torque * weight[p.target] * size[p.target]
        c = step(world, dt, force, torque, **step_options)
        if len(c):
            max_pen = max(max_pen, float(c.depth.max()))
            # A hit is a contact that pushed (a speculative contact that never closed did not).
            hit = (c.b >= 0) & (c.impulse > 0)
            for i, j in zip(c.a[hit], c.b[hit]):
                first[i, j] = first[j, i] = min(first[i, j], world.time)
        if (s + 1) % frame_every == 0:
            snapshot()
    return Trajectory(np.array(rec["t"]), np.stack(rec["pos"]), np.stack(rec["angle"]), np.stack(rec["vel"]),
                      np.stack(rec["omega"]), first, max_pen)


# ---------------------------------------------------------------------------------------------
# Closed forms the engine must reproduce
# ---------------------------------------------------------------------------------------------

def energy(world: World, traj: Trajectory | None = None) -> float | np.ndarray:
    """Kinetic (translational + rotational) plus potential energy, measured from the floor (y = H)."""
    pos, vel, om = (world.pos, world.vel, world.omega) if traj is None else (traj.pos, traj.vel, traj.omega)
    kinetic = 0.5 * (world.mass * (vel ** 2).sum(-1)).sum(-1) + 0.5 * (world.inertia * om ** 2).sum(-1)
    floor = np.array([0.0, world.size[0]])
    return kinetic + (world.mass * ((floor - pos) @ world.gravity)).sum(-1)


def momentum(world: World, traj: Trajectory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear momentum sum m v, and angular momentum about the origin sum (m x cross v + I omega)."""
    pos, vel, om = (world.pos, world.vel, world.omega) if traj is None else (traj.pos, traj.vel, traj.omega)
    linear = (world.mass[:, None] * vel).sum(-2)
    angular = (world.mass * cross(pos, vel) + world.inertia * om).sum(-1)
    return linear, angular


def projectile(dt: float = DT, duration: float = 1.0, velocity: Sequence[float] = (150.0, -450.0),
               flight: str = "exact") -> dict:
    """A ball in free flight against the closed form x0 + v0 t + g t^2 / 2; max distance in px.

    Exact flight reproduces the parabola to rounding error; semi-implicit Euler (Pymunk's
    integrator) is off by g dt t / 2 after time t, 2.04 px after a second at dt = 1/240 s.
    """
    prim, mat = body("circle", (500.0, 2000.0), (20.0, 20.0))
    world = make_world([prim], [mat], size=(4000, 1000))
    world.vel[0] = velocity
    traj = simulate(world, duration=duration, dt=dt, frame_every=1, flight=flight)
    t = traj.times[:, None]
    exact = prim.center + np.asarray(velocity) * t + 0.5 * world.gravity * t ** 2
    return {"max_error": float(np.linalg.norm(traj.pos[:, 0] - exact, axis=1).max()),
            "times": traj.times, "sim": traj.pos[:, 0], "exact": exact}


def collision(restitution: float = 0.8, duration: float = 0.4, **step_options) -> dict:
    """An off-centre collision of a spinning box and a ball, without gravity or walls nearby.

    Contact impulses come in equal and opposite pairs at one point, so total linear and angular
    momentum must not change; returns their largest relative change over the run.
    """
    specs = [body("box", (300.0, 300.0), (30.0, 20.0), angle=-0.2, density=1.0, restitution=restitution),
             body("circle", (380.0, 306.0), (24.0, 24.0), density=2.0, restitution=restitution)]
    world = make_world([p for p, _ in specs], [m for _, m in specs], size=(600, 700), gravity=0.0)
    world.vel[:] = [[150.0, 0.0], [-100.0, 20.0]]
    world.omega[:] = [1.0, -1.0]
    traj = simulate(world, duration=duration, frame_every=1, **step_options)
    linear, angular = momentum(world, traj)
    return {"linear_error": float(np.linalg.norm(linear - linear[0], axis=1).max() / np.linalg.norm(linear[0])),
            "angular_error": float(np.abs(angular - angular[0]).max() / abs(angular[0])),
            "collided": bool(np.isfinite(traj.first_contact[0, 1])),
            "speed_change": float(np.linalg.norm(traj.vel[-1] - traj.vel[0])),
            "times": traj.times, "linear": linear, "angular": angular,
            "momenta": world.mass[:, None] * traj.vel}                  # (T, N, 2) per body


def drop(restitution: float = 0.8, height: float = 200.0, n_bounces: int = 3, dt: float = DT,
         radius: float = 10.0, **step_options) -> dict:
    """Drop a ball from rest; return the apex heights after each of the first `n_bounces` bounces.

    Each impact scales the speed by e, and height goes as v^2, so apex n is e^(2n) h (2 m = 200 px
    at 1 px = 1 cm). The ball's bottom is measured from the floor.
    """
    check_number("restitution", restitution, low=0, high=1, strict_low=True)
    floor = 400
    prim, mat = body("circle", (100.0, floor - radius - height), (2 * radius, 2 * radius), restitution=restitution)
    world = make_world([prim], [mat], size=(floor, 200), wall_restitution=1.0)
    flight_time = math.sqrt(2 * height / GRAVITY) * (1 + 2 * sum(restitution ** k for k in range(1, n_bounces + 1)))
    traj = simulate(world, duration=flight_time + 0.05, dt=dt, frame_every=1, **step_options)
    z = floor - radius - traj.pos[:, 0, 1]                     # height of the ball's bottom
    up = traj.vel[:, 0, 1] < 0                                 # moving up (y points down)
    # an apex is the last sample of a climb: moving up now, not at the next sample
    apex_idx = np.flatnonzero(up[:-1] & ~up[1:])[:n_bounces]
    # refine each apex between samples with the parabola through its neighbours
    apexes = []
    for i in apex_idx:
        y0, y1, y2 = z[i - 1], z[i], z[i + 1]
        curv = y0 - 2 * y1 + y2
        apexes.append(y1 - (y2 - y0) ** 2 / (8 * curv) if curv < 0 else y1)
    apexes = np.array(apexes)
    exact = height * restitution ** (2 * np.arange(1, len(apexes) + 1))
    return {"apexes": apexes, "exact": exact, "rel_error": apexes / exact - 1,
            "times": traj.times, "height": z}


def slide(speed: float = 300.0, friction: float = 0.5, ground_friction: float = 0.6, dt: float = DT,
          size: tuple[float, float] = (40.0, 20.0)) -> dict:
    """A box launched along the floor at v0 slides to rest after v0^2 / (2 mu g), mu = combine(...).

    Unlike the rolling test below, this depends on mu: a wrong coefficient or a wrong rule for
    combining the box's and the floor's friction moves the stopping point.
    """
    w, h = size
    prim, mat = body("box", (40.0 + w / 2, 300.0 - h / 2), size, friction=friction, restitution=0.0)
    world = make_world([prim], [mat], size=(300, 2000), wall_friction=ground_friction, wall_restitution=0.0)
    world.vel[0] = [speed, 0.0]
    mu = friction * ground_friction                        # the rule we expect: Pymunk's product
    t_stop = speed / (mu * GRAVITY)
    traj = simulate(world, duration=t_stop * 1.3 + 0.05, dt=dt, frame_every=1)
    distance = float(traj.pos[-1, 0, 0] - prim.center[0])
    exact = speed ** 2 / (2 * mu * GRAVITY)
    return {"distance": distance, "exact": exact, "rel_error": distance / exact - 1,
            "times": traj.times, "x": traj.pos[:, 0, 0] - prim.center[0], "speed": traj.vel[:, 0, 0],
            "tilt": float(np.abs(traj.angle[:, 0]).max())}


def rolling(speed: float = 240.0, friction: float = 0.5, duration: float = 0.6) -> dict:
    """Launch a disc sliding along the floor without spin: friction makes it roll.

    Friction acts until the contact point stops slipping (v = omega r). The impulse that slows the
    centre also spins the disc up, and for a solid disc (I = m r^2 / 2) the final speed is
    v = v0 / (1 + I / (m r^2)) = 2/3 v0, whatever the friction coefficient: this test cannot see
    a wrong mu (`slide` can).
    """
    r = 12.0
    prim, mat = body("circle", (60.0, 300.0 - r), (2 * r, 2 * r), friction=friction, restitution=0.0)
    world = make_world([prim], [mat], size=(300, 1000))
    world.vel[0] = [speed, 0.0]
    traj = simulate(world, duration=duration, frame_every=1)
    return {"speed_ratio": float(world.vel[0, 0] / speed),
            "slip": float(abs(world.vel[0, 0] - world.omega[0] * r)),
            "times": traj.times, "speed": traj.vel[:, 0, 0], "spin_speed": traj.omega[:, 0] * r}


# ---------------------------------------------------------------------------------------------
# An independent prediction: kinematics alone, no collision code
# ---------------------------------------------------------------------------------------------

def kinematic_path(prim: Primitive, push: Push, size: tuple[int, int], gravity: float = GRAVITY,
                   horizon: float = 3.0, n: int = 3000) -> np.ndarray:
    """Where kinematics alone sends a pushed ball: (n, 2) centre positions over `horizon` seconds.

    The ball accelerates at a = f/m + g while pushed (the floor cancels any downward part if it
    rests on it), then flies on the parabola x(t) = x_1 + v_1 t + g t^2 / 2 until it reaches the
    floor, and rolls on along it (friction slows a ball but cannot turn it). No bounces.
    """
    check_arg(prim.kind == "circle", "push.target", "the index of a circle (the predictor rolls balls)", prim.kind)
    floor = size[0] - prim.size[0] / 2
    g = np.array([0.0, gravity])
    acc = np.asarray(push.force, float) * gravity + g                 # force is in weights
    if prim.center[1] >= floor - 0.5:
        acc[1] = min(acc[1], 0.0)                                    # supported by the floor
    t = np.linspace(0.0, horizon, n)[:, None]
    tp, tf = np.minimum(t, push.duration), np.maximum(t - push.duration, 0.0)
    path = prim.center + 0.5 * acc * tp ** 2 + acc * push.duration * tf + 0.5 * g * tf ** 2
    path[:, 1] = np.minimum(path[:, 1], floor)
    return path


def predict_first_hit(primitives: Sequence[Primitive], push: Push, size: tuple[int, int],
                      gravity: float = GRAVITY) -> int:
    """The first object the pushed ball's kinematic path runs into before a side wall (-1: none).

    An independent check on the simulator's outcome: it shares none of the collision code.
    """
    r = primitives[push.target].size[0] / 2
    path = kinematic_path(primitives[push.target], push, size, gravity)
    in_room = np.cumprod((path[:, 0] > r) & (path[:, 0] < size[1] - r)).astype(bool)
    touch = np.stack([sdf(p.kind, path, p.center, p.size, p.angle) <= r + 0.5 for p in primitives]) & in_room
    first = np.where(touch.any(1), touch.argmax(1), len(path))           # first sample touching each
    first[push.target] = len(path)
    k = int(np.argmin(first))
    return k if first[k] < len(path) else -1
