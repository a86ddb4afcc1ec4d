# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quadruped inverse kinematics: from body pose to twelve joint angles
#
# A four-legged robot with three motors per leg has twelve joint angles. Nobody wants to drive
# it joint by joint. We want to say *where the body should be* (tilted, turned, raised) and
# *where the feet should stand*, and get the twelve angles back. Şen, Bakırcıoğlu & Kalyoncu
# (IJSTR 2017) do this in three steps:
#
# 1. place the body with three rotations and a translation (eqs. 1–5);
# 2. find each hip in the world (eqs. 6–9), then each foot as seen from its own hip;
# 3. solve each 3-joint leg in closed form with `atan2` and the law of cosines (eqs. 10–17).
#
# All the code lives in `minimal_impls/quadruped_ik.py`. This notebook draws it and checks it.
# **Leg numbers** follow the order of eqs. (6)–(9) everywhere: leg 1 right back, leg 2 right
# front, leg 3 left front, leg 4 left back.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

import paperclub
from minimal_impls import quadruped_ik as qik

torch.set_num_threads(1)  # thousands of tiny 3x3 and 4x4 problems: more threads only add overhead
S = paperclub.seed()      # 0 for the page; 1-4 when `paperclub sweep` re-runs it: every random draw follows
robot = qik.Robot()
paper = qik.paper_robot()
print("our robot (Spot Micro): ", robot)
print("paper's Table 1 robot:  ", paper)
LEGS = [f"{i + 1} {name}" for i, name in enumerate(qik.LEG_NAMES)]

# %% [markdown]
# Every number this notebook reports comes from one call. It draws 2,000 random targets per leg
# for each check, runs the numeric solver on the first 250 per leg, and runs the body sweep, the
# trot and the paper's Table 3 example. (No timings: they depend on the machine. `bench/ik_timing.py`
# times the closed form against scipy's `least_squares`; the site's Performance page reports it.)

# %%
results = qik.run(n_targets=2000, n_numeric=250, seed=S)
for key, value in results.items():
    print(f"{key:36s} {value:.4g}")

# %% [markdown]
# ## 1. The robot, its frames, and the feet that stay put
#
# The paper's frames: $x$ forward, $y$ **up**, $z$ to the right (eqs. 6–7 put the right legs at
# $z = +W/2$). So roll $\omega$ turns about $x$, yaw $\phi$ about the vertical $y$, and pitch $\psi$
# about $z$ (eqs. 1–3). The body's pose is $T_M = \begin{bmatrix} R_{xyz} & p_m \\ 0 & 1\end{bmatrix}$
# (eq. 5). Each hip frame is $T_M$ times a fixed offset to a corner $(\pm L/2, 0, \pm W/2)$, turned
# by $\pm\pi/2$ about $y$ (eqs. 6–9). Below, the same four footprints hold three body poses.

# %%
COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red"]


def draw(ax, pose, angles, feet=None, title="", legend=False):
    """Body outline through the four hips, and each leg hip -> shoulder -> knee -> foot."""
    pts = qik.robot_points(robot, pose, angles).numpy()          # (4 legs, 4 points, 3)
    show = lambda p: (p[..., 0], -p[..., 2], p[..., 1])          # plot (forward, left, up)
    body = pts[[0, 1, 2, 3, 0], 0]                               # legs 1 -> 2 -> 3 -> 4 -> 1
    ax.plot(*show(body), color="0.2", lw=2.5)
    for leg in range(4):
        ax.plot(*show(pts[leg]), "-o", color=COLOURS[leg], lw=2, ms=3, label=f"leg {LEGS[leg]}")
    if feet is not None:
        ax.scatter(*show(feet.numpy()), color="k", marker="x", s=30)
    ax.set(xlim=(-0.17, 0.17), ylim=(-0.17, 0.17), zlim=(0, 0.25))
    ax.set_title(title, y=0.95)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    ax.set_box_aspect((1, 1, 0.74), zoom=1.1)
    ax.view_init(elev=18, azim=-60)
    if legend:
        ax.legend(loc="upper left", fontsize=8)


feet = qik.standing_feet(robot)
poses = {
    "standing": [0, 0, 0, 0, 0.18, 0],
    "roll 20°, pitch 15°": [math.radians(20), 0, math.radians(15), 0, 0.17, 0],
    "yaw 25°, crouched, shifted": [0, math.radians(25), 0, -0.025, 0.13, 0.02],
}
fig = plt.figure(figsize=(10, 3.4))
for i, (name, pose) in enumerate(poses.items()):
    pose = torch.tensor(pose, dtype=torch.float64)
    ax = fig.add_subplot(1, 3, i + 1, projection="3d")
    draw(ax, pose, qik.body_ik(robot, pose, feet), feet, name, legend=i == 0)
fig.suptitle("Same footprints (x), three body poses: whole-body IK gives the twelve angles")
fig.subplots_adjust(left=0, right=1, bottom=0, top=0.88, wspace=0)
paperclub.savefig(fig, "poses")
plt.show()

# %% [markdown]
# With eq. (17)'s knee rule (legs 1 and 3 take $-\sqrt{1-D^2}$, legs 2 and 4 take $+\sqrt{1-D^2}$)
# and these hip frames, the front knees bend backwards and the hind knees forwards: front and hind
# legs are mirror images, as in a dog.
#
# ## 2. Rotations do not commute: the order in eq. (4) is part of the model
#
# The paper fixes $R_{xyz} = R_x(\omega)\,R_y(\phi)\,R_z(\psi)$. The same three angles multiplied
# in another order give a different attitude, so different joint angles: a robot built with one
# order and driven by IK written with the other does not keep its feet where it was told.

# %%
stand_pose = torch.tensor([math.radians(15), math.radians(20), math.radians(10), 0, 0.17, 0],
                          dtype=torch.float64)
q_xyz = qik.body_ik(robot, stand_pose, feet, order="xyz")
q_zyx = qik.body_ik(robot, stand_pose, feet, order="zyx")
print("joint angles (deg), order xyz:\n", np.degrees(q_xyz.numpy()).round(1))
print("joint angles (deg), order zyx:\n", np.degrees(q_zyx.numpy()).round(1))
paperclub.record("order_max_angle_diff_deg", results["order_max_angle_diff_deg"])
paperclub.record("order_mismatch_planted_error_m", results["order_mismatch_planted_error_m"])

scale = np.linspace(0.05, 1.5, 30)
gap = [float((qik.body_rotation(s * 0.26, s * 0.35, s * 0.17, "xyz")
              - qik.body_rotation(s * 0.26, s * 0.35, s * 0.17, "zyx")).abs().max()) for s in scale]
fig, ax = plt.subplots(figsize=(5, 3))
ax.loglog(scale * 20, gap, label=r"$\max |R_{xyz} - R_{zyx}|$")
ax.loglog(scale * 20, gap[0] * (scale / scale[0]) ** 2, "--", label="slope 2")
ax.set(xlabel="largest angle (deg), angles in ratio 15:20:10", ylabel="matrix difference",
       title="Two rotation orders drift apart like angle²")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. One leg: the Denavit–Hartenberg chain and its workspace
#
# The leg is a chain of four DH transforms (eqs. 10–13): hip abduction ("side swing") $\theta_1$
# with the offset $L_1$, a fixed quarter-turn that stands the next two axes sideways, then the
# shoulder $\theta_2$ with the upper leg $L_2$ and the knee $\theta_3$ with the lower leg $L_3$. Their
# product $T_0^4$ (eq. 14) puts the foot at
#
# $$x_4 = -L_1\cos\theta_1 + A\sin\theta_1,\quad y_4 = -L_1\sin\theta_1 - A\cos\theta_1,\quad z_4 = B,$$
#
# with $A = L_2\cos\theta_2 + L_3\cos(\theta_2+\theta_3)$ and $B = L_2\sin\theta_2 + L_3\sin(\theta_2+\theta_3)$.
# Sampling 40,000 joint-angle triples inside the limits shows where leg 2's foot can go.

# %%
g = torch.Generator().manual_seed(S)
lim = robot.limits()[1]                                          # leg 2, right front
q = lim[:, 0] + (lim[:, 1] - lim[:, 0]) * torch.rand(40000, 3, generator=g, dtype=torch.float64)
ws = qik.leg_fk(robot, q).numpy()
stand_local = qik.feet_in_hip_frames(robot, torch.tensor(poses["standing"], dtype=torch.float64), feet)[1]

fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
for ax, (i, name) in zip(axes, [(2, "forward  $z_0$ (m)"), (0, "inward  $x_0$ (m)")]):
    *_, sc = ax.hist2d(ws[:, i], ws[:, 1], bins=70, range=[[-0.26, 0.26], [-0.26, 0.2]], cmin=1,
                       cmap="viridis", norm="log")
    ax.plot(stand_local[i], stand_local[1], "r*", ms=12, label="standing foot")
    ax.plot(0, 0, "k+", ms=12, label="hip")
    ax.set(xlabel=name, ylabel="up  $y_0$ (m)", aspect="equal")
axes[0].set_title("side view"), axes[1].set_title("front view")
axes[1].legend(loc="lower right", fontsize=8)
fig.suptitle("Where leg 2's foot can go within the joint limits")
fig.colorbar(sc, ax=axes, label="joint configurations per cell")
paperclub.savefig(fig, "workspace")
plt.show()

# %% [markdown]
# ## 4. The closed form, eqs. (15)–(17), and the round trip that checks it
#
# In the hip's $(x, y)$ plane the foot is $L_1$ to the side and $A = \pm\sqrt{x_4^2+y_4^2-L_1^2}$
# below the shoulder, which gives $\theta_1$. In the leg's own plane the law of cosines gives the knee,
#
# $$D = \frac{x_4^2+y_4^2-L_1^2+z_4^2-L_2^2-L_3^2}{2\,L_2 L_3} = \cos\theta_3,\qquad
#   \theta_3 = \operatorname{atan2}\!\left(\pm\sqrt{1-D^2},\, D\right),$$
#
# and $\theta_2$ is the direction to the foot minus the angle the bent knee adds at the shoulder.
# Eq. (15) as printed, $-\operatorname{atan2}(-y_4, x_4) - \operatorname{atan2}(\sqrt{\cdot}, -L_1)$,
# is the root with the foot *above* the shoulder. Paired with eq. (16)'s foot-below $\theta_2$ its
# foot lands elsewhere; with the sign fixed the round trip closes to rounding error.

# %%
target = stand_local + torch.tensor([0.01, 0.02, 0.03], dtype=torch.float64)
angles = qik.leg_ik(robot, target, leg=2)
wrong = torch.cat([qik.printed_eq15(robot, target)[None], angles[1:]])
print("target (m):          ", target.numpy().round(4))
print("IK angles (deg):     ", np.degrees(angles.numpy()).round(2))
print("FK of those angles:  ", qik.leg_fk(robot, angles).numpy().round(4))
print("foot error with the printed eq. (15): %.1f mm" % (1000 * (qik.leg_fk(robot, wrong) - target).norm()))
paperclub.record("fk_ik_max_error_m", results["fk_ik_max_error_m"])
paperclub.record("printed_eq15_foot_error_m", results["printed_eq15_foot_error_m"])
paperclub.record("ik_fk_max_angle_error_rad", results["ik_fk_max_angle_error_rad"])

# %% [markdown]
# ## 5. Which knee, which hip? Four solutions, chosen by the caller
#
# A reachable foot has up to four solutions: the knee bent either way (the $\pm$ of eq. 17) times
# the foot below or above the shoulder line (the $\pm$ of $A$). The paper fixes the knee per leg and,
# implicitly, the foot below. `leg_ik(..., knee=..., hip=...)` lets the caller choose; when the
# choice breaks a joint limit it falls back to another legal solution before it raises.

# %%
def leg_plane(angles):
    """Shoulder, knee and foot of one leg, in its (z0 forward, y0 up) plane."""
    pts = qik.leg_chain(robot, angles)[..., [1, 3, 4], :3, 3]
    return pts[..., 2].numpy(), pts[..., 1].numpy()


demo = qik.leg_fk(robot, torch.tensor([0.0, -0.9, 1.9], dtype=torch.float64))   # a foot near the shoulder line
styles = {("back", "below"): ("-o", "knee back, foot below = eq. (17)"),
          ("forward", "below"): ("--o", "knee forward, foot below"),
          ("back", "above"): (":s", "knee back, foot above"),
          ("forward", "above"): ("-.s", "knee forward, foot above")}
fig, ax = plt.subplots(figsize=(12, 5.6))
for (knee, hip), (style, label) in styles.items():
    res = qik.leg_ik(robot, demo, leg=2, knee=knee, hip=hip, check=False, fallback=False)
    legal = "legal" if bool(res.legal) else "beyond limits"
    ax.plot(*leg_plane(res.angles), style, lw=3.5, ms=9, label=f"{label}\n   ({legal})")
ax.plot(demo[2], demo[1], "r*", ms=24, label="target foot")
ax.set_xlabel("forward (m)", fontsize=16)
ax.set_ylabel("up (m)", fontsize=16)
ax.tick_params(labelsize=14)
ax.set_aspect("equal")
ax.set_title("Leg 2 (right front): four solutions, one foot", fontsize=18)
ax.legend(fontsize=15, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
fig.subplots_adjust(left=0.08, right=0.55, bottom=0.13, top=0.9)
paperclub.savefig(fig, "knee-branches")
plt.show()

# %% [markdown]
# Drawn uniformly inside the joint limits, every configuration is by construction reachable with
# legal angles. The paper's branch alone answers only part of them; the fallback answers all.

# %%
print(f"legal solution found: paper's branch only {results['paper_branch_only_solved_fraction']:.1%}, "
      f"with the fallback {results['in_limit_solved_fraction']:.1%}")
paperclub.record("in_limit_solved_fraction", results["in_limit_solved_fraction"])
paperclub.record("paper_branch_only_solved_fraction", results["paper_branch_only_solved_fraction"])

# %% [markdown]
# ## 6. Out of reach: flag it, never guess
#
# A target is reachable only if it is at least $L_1$ from the hip's abduction axis
# ($x_4^2+y_4^2 \ge L_1^2$, else eq. 15 has no real root) **and** $|D| \le 1$. Implementations that
# clamp $D$ and the square roots return a plausible pose for any input. `leg_ik(..., check=False)`
# returns a reachability mask and NaN angles instead; with `check=True` it raises, naming the leg.

# %%
far = torch.tensor([-robot.l1, -(robot.l2 + robot.l3 + 0.02), 0.0], dtype=torch.float64)   # 2 cm too far
print(qik.leg_ik(robot, far, leg=2, check=False))
clamped = qik.closed_form(robot, far, 1.0, 1.0)          # the unchecked equations: a pose for anything
silent = float((qik.leg_fk(robot, clamped) - far).norm())
print(f"clamped answer {np.degrees(clamped.numpy()).round(1)} deg puts the foot {1000 * silent:.0f} mm off")
try:
    qik.leg_ik(robot, far, leg=2)
except ValueError as err:
    print("check=True:", err)
paperclub.record("silent_clamp_foot_error_m", silent)
# A slice through leg 2's hip frame: which targets each reach test rejects.
grid = torch.linspace(-0.26, 0.26, 261, dtype=torch.float64)
gx, gy = torch.meshgrid(grid, grid, indexing="xy")
plane = torch.stack([gx, gy, torch.full_like(gx, 0.12)], -1)           # z0 = 12 cm forward
full = ~qik.reachable(robot, plane)
d_only = qik.d_only_unreachable(robot, plane)
category = torch.where(~full, 0, torch.where(d_only, 1, 2)).numpy()
fig, ax = plt.subplots(figsize=(8.5, 5.6))
cmap = plt.matplotlib.colors.ListedColormap(["#cfe8cf", "#9aa7b8", "#d62728"])
ax.imshow(category, origin="lower", extent=(-0.26, 0.26, -0.26, 0.26), cmap=cmap, vmin=-0.5, vmax=2.5)
ax.plot(0, 0, "k+", ms=16, mew=3)
handles = [plt.matplotlib.patches.Patch(color=c, label=l) for c, l in
           zip(cmap.colors, ["reachable", "unreachable, |D| > 1 catches it", "unreachable, only x²+y² ≥ L1² catches it"])]
ax.legend(handles=handles, fontsize=13, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
ax.set_xlabel("inward  $x_0$ (m)", fontsize=15)
ax.set_ylabel("up  $y_0$ (m)", fontsize=15)
ax.tick_params(labelsize=12)
ax.set_title("Leg 2, slice $z_0$ = 12 cm: the two reach conditions", fontsize=16)
fig.subplots_adjust(left=0.1, right=0.5, bottom=0.12, top=0.9)
paperclub.savefig(fig, "reach")
plt.show()

paperclub.record("unreachable_flagged_fraction", results["unreachable_flagged_fraction"])
paperclub.record("d_only_flagged_fraction", results["d_only_flagged_fraction"])
paperclub.record("false_alarm_fraction", results["false_alarm_fraction"])
paperclub.record("reach_cube_half_side_m", results["reach_cube_half_side_m"])

# %% [markdown]
# ## 7. The paper's own example: Table 1's robot, Table 3's first pose
#
# The paper's robot (its Table 1): $L = 1$ m, $W = 0.4$ m, $L_1 = 0.1$ m, $L_2 = L_3 = 0.4$ m. Its
# Table 3, first example (from a third-party transcription): the body at the origin pitched by
# $\psi = -15°$, the feet fixed 0.65 m below the hips; the paper lists $|\theta_1| = 7.5883°$ on one
# pair of legs, {1, 4}, and $11.5735°$ on the other, {2, 3}, without (in the transcription) saying which
# pair has which. Only these $\theta_1$ values were transcribed, so the $\theta_2$, $\theta_3$ columns
# below are ours, not the paper's.

# %%
t3 = qik.table3_example()
print("leg            theta1    theta2    theta3   (deg, ours; Table 1 robot, psi = -15 deg)")
for leg in range(4):
    print(f"{LEGS[leg]:14s}" + "".join(f"{v:10.4f}" for v in np.degrees(t3[leg].numpy())))
print("paper's |theta1| values:", qik.TABLE3_THETA1_DEG)
paperclub.record("table3_theta1_max_error_deg", results["table3_theta1_max_error_deg"])
paperclub.record("table3_printed_eq15_error_deg", results["table3_printed_eq15_error_deg"])

# %% [markdown]
# The pairs come out as legs {1, 4} and {2, 3}, as the numbering of eqs. (6)–(9) predicts. Which pair
# gets which value is **our inference**: with $\psi = -15°$ the nose goes down, the front hips come
# closer to their feet and the hip offset $L_1$ takes the larger angle, 11.5735°. With the nose up
# ($\psi = +15°$) the back legs would get it and the match, made in sorted order, would be as good;
# so the match supports the magnitudes, not the assignment (tested both ways).
#
# ## 8. Tilting and turning the body with the feet planted, and a trot
#
# Whole-body IK maps each world foot into its hip frame, $p_{\text{hip}} = (T_M\,T_{\text{leg}})^{-1} p_{\text{world}}$,
# and solves the four legs in one batched call. Here the body rolls, yaws and pitches at one,
# two and three cycles per loop while it shifts and bobs; forward kinematics puts every foot back.

# %%
s = torch.linspace(0, 2 * math.pi, 37, dtype=torch.float64)[:-1]
sweep = qik.body_sweep(s)
q_sweep = qik.body_ik(robot, sweep, feet)                        # (36 frames, 4 legs, 3 joints)
landed = qik.robot_points(robot, sweep, q_sweep)[..., 3, :]      # whole-body FK of the feet
print("max foot drift over the sweep: %.1e m" % (landed - feet).norm(dim=-1).max())
paperclub.record("planted_max_error_m", results["planted_max_error_m"])


def frames_of(poses, angles, feet_per_frame, title):
    fig = plt.figure(figsize=(3.6, 3.0), dpi=80)
    ax = fig.add_subplot(projection="3d")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    out = []
    for k in range(len(poses)):
        ax.cla()
        draw(ax, poses[k], angles[k], feet_per_frame[k], title)
        fig.canvas.draw()
        out.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    return out


frames = frames_of(sweep, q_sweep, feet.expand(len(s), 4, 3), "feet planted")
_ = paperclub.show_animation(frames, "body-sweep", fps=12)

# %% [markdown]
# In a trot the diagonal pairs swing together: legs 1 and 3, then legs 2 and 4 (the same pairs as
# eq. 17's knee rule). A stance foot stays planted while a swing foot moves one stride forward on
# a smooth arc. The gait is only a list of body poses and foot positions; the IK does the rest.

# %%
trot_poses, trot_feet = qik.trot(robot, n_frames=24, cycles=2)
q_trot = qik.body_ik(robot, trot_poses, trot_feet)               # raises if no legal solution
paperclub.record("trot_max_foot_error_m", results["trot_max_foot_error_m"])

fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), sharex=True)
t = np.arange(len(trot_poses)) / 24
for leg in range(4):
    axes[0].plot(t, 100 * trot_feet[:, leg, 1].numpy(), color=COLOURS[leg], label=f"leg {LEGS[leg]}")
    for j in (1, 2):
        axes[j].plot(t, np.degrees(q_trot[:, leg, j].numpy()), color=COLOURS[leg])
axes[0].set(title="foot height (cm)", xlabel="time (gait cycles)")
for j in (1, 2):
    axes[j].set(title=f"{qik.JOINT_NAMES[j]} angle (deg)", xlabel="time (gait cycles)")
axes[0].legend(fontsize=7, ncols=2, loc="upper center")
axes[0].set_ylim(-0.3, 6.5)
fig.tight_layout()
paperclub.savefig(fig, "trot-angles")
plt.show()

# %%
cycle = slice(0, 24)                                             # one cycle loops seamlessly
follow = torch.tensor([1.0, 0, 0], dtype=torch.float64) * trot_poses[cycle, None, 3:4]
pose_follow = trot_poses[cycle].clone()
pose_follow[:, 3] = 0                                            # camera rides with the body
frames = frames_of(pose_follow, q_trot[cycle], trot_feet[cycle] - follow, "trot (camera follows)")
_ = paperclub.show_animation(frames, "trot", fps=12)

# %% [markdown]
# ## 9. A numeric solver cannot choose the knee: it needs the rule, or limits
#
# Damped least squares on the leg's Jacobian, $\Delta\theta = J^\top (J J^\top + \lambda^2 I)^{-1}(p^* - \text{FK}(\theta))$,
# started from a crouch. With the joint limits it stays on eq. (17)'s knee. Without them it ends on
# the other knee for a share of the targets. Count that share by $\sin\theta_3$: an unclamped
# iteration winds the angles up by many turns unless each step is wrapped into $(-\pi, \pi]$, and a
# plain sign test on a wound angle miscounts.

# %%
print(f"unwrapped angles reach {results['unwrapped_max_abs_angle_rad']:.0f} rad; "
      f"wrapped ones stay within {results['wrapped_max_abs_angle_rad']:.2f} rad")
print(f"knee flips: by the sine {results['unclamped_knee_flip_fraction']:.1%}, by the raw sign of the "
      f"wound angle {results['raw_sign_knee_flip_fraction']:.1%}, with limits {results['clamped_knee_flip_fraction']:.1%}")
# The same experiment on leg-sized samples, drawn: how far the angles wind, and what each count says.
_, some_feet = qik.sample_reachable(robot, 250, seed=S)
wound = qik.numeric_ik(robot, some_feet, clamp=False, wrap=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
axes[0].hist(wound.angles[..., 2].flatten().numpy(), bins=60, color="tab:gray")
axes[0].axvspan(-math.pi, math.pi, color="tab:green", alpha=0.2, label="(-π, π]")
axes[0].set_xlabel("knee angle θ3 after 30 unwrapped steps (rad)", fontsize=13)
axes[0].set_ylabel("targets", fontsize=13)
axes[0].set_yscale("log")
axes[0].set_title("Unwrapped, the angles wind up", fontsize=15)
axes[0].legend(fontsize=12)
shares = [results["unclamped_knee_flip_fraction"], results["raw_sign_knee_flip_fraction"],
          results["clamped_knee_flip_fraction"]]
bars = axes[1].bar(["by sin θ3", "by sign of\nwound θ3", "with joint\nlimits"], [100 * v for v in shares],
                   color=["tab:blue", "tab:gray", "tab:green"])
axes[1].bar_label(bars, labels=[f"{100 * v:.1f} %" for v in shares], fontsize=13)
axes[1].set_ylim(0, 125 * max(shares))
axes[1].set_ylabel("knees flipped against eq. (17) (%)", fontsize=13)
axes[1].set_title("Count by the sine", fontsize=15)
axes[1].tick_params(labelsize=12)
fig.tight_layout()
paperclub.savefig(fig, "knee-flips")
plt.show()
paperclub.record("unclamped_knee_flip_fraction", results["unclamped_knee_flip_fraction"])
paperclub.record("clamped_knee_flip_fraction", results["clamped_knee_flip_fraction"])
paperclub.record("raw_sign_knee_flip_fraction", results["raw_sign_knee_flip_fraction"])
paperclub.record("unwrapped_max_abs_angle_rad", results["unwrapped_max_abs_angle_rad"])
paperclub.record("numeric_converged_fraction", results["numeric_converged_fraction"])
paperclub.record("numeric_agreement_fraction", results["numeric_agreement_fraction"])
paperclub.record("numeric_same_branch_max_diff_rad", results["numeric_same_branch_max_diff_rad"])

# %% [markdown]
# ## Take-aways
#
# * The closed form inverts the DH chain to rounding error on every leg, and the paper's Table 3
#   $\theta_1$ values come out to the printed four decimals. The round trip FK(IK(p)) = p is how
#   the printed sign of eq. (15) is caught.
# * "The" IK solution is a choice: four per foot, and the paper's rule (knee per leg, foot below the
#   shoulder) does not cover every legal pose. Let the caller choose, fall back before failing.
# * Never answer an unreachable target with a clamped pose: flag it, and test both reach conditions.
# * Rotation order and angle wrapping are conventions with consequences; tests catch both.
# * Speed is not measured here: a timing is a property of the machine, not of the paper (see the
#   site's Performance page, made by `bench/ik_timing.py`).
