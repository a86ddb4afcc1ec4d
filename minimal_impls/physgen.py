"""PhysGen in miniature: one image -> perception -> rigid-body simulation -> rendered video.

    Liu, S., Ren, Z., Gupta, S. & Wang, S. (2024). PhysGen: Rigid-Body Physics-Grounded
    Image-to-Video Generation. ECCV. arXiv:2409.18964

PhysGen turns a single image and a user's push on one object into a video whose motion comes
from a physics simulator instead of from a video model's imagination. Read this file top to
bottom, in the order of the paper's pipeline (Fig. 2):

0. a test scene painted over a packaged photo, with ground truth rendered by a *richer* model
   than the relighter assumes (specular highlights, a contact shadow);
1. perception (Sec. 3.1): masks, circle or box, mass/friction/elasticity, normals, shading, light;
2. image-space dynamics (Sec. 3.2, Eq. 1-2), run by `minimal_impls.rigid_body` (Pymunk in the
   paper): the push, a kinematic cross-check, and the authors' released `car` scene;
3. rendering (Sec. 3.3): inpaint, warp each object to its simulated pose, relight, composite;
   then Algorithm 1's latent fusion (Sec. 3.4), with an exact Gaussian denoiser standing in for SEINE.

What this toy keeps: the three stages and their interface (masks -> primitives + properties ->
2-D poses -> image-based rendering); the circle-vs-polygon rule (IoU 0.85, authors' code);
simulation in pixels with g = 980 px/s^2; friction and elasticity combined by product (Pymunk);
the authors' relighting: light fitted to the whole image's estimated shading,
S = max(0, n.l + c) + 0.2, albedo = I^2.2 / S (fact sheet Sec. 3.3, from relight/relight.py).
What it drops: GPT-4V and Grounded-SAM (colour clustering and a rule table instead), real photos,
GeoWizard and the intrinsic network (our normals come from the primitive, our shading estimate is
brightness), general polygons (oriented boxes), shadows, and SEINE itself: the refinement's
schedule (Algorithm 1) runs on grey pixels as "latents" with a toy denoiser, so it shows what
the fusion keeps and frees, not the photorealism it adds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from minimal_impls import rigid_body as rb
from minimal_impls.common import check_arg, check_choice, device, seed_everything
from minimal_impls.rigid_body import GRAVITY, Material, Primitive, Push, Trajectory

LIGHT = (-0.45, -0.55, 0.70)       # true light: direction *towards* it, up-left and towards the viewer
AMBIENT = 0.35                     # true world's shading floor
SPECULAR, SHININESS = 0.5, 40.0    # true world's glossy balls (Blinn-Phong): the relighter has no such term
OCCLUSION, OCCLUSION_SCALE = 0.5, 6.0   # true world's contact shadow: darker within a few px of the ground
GAMMA = 2.2                        # display = linear^(1/2.2), as the authors' relighting assumes
MARK_COLOR = (0.96, 0.95, 0.92)    # the white spot that makes rotation visible


def _pixel_centres(height: int, width: int) -> np.ndarray:      # (H, W, 2) (x, y); the image is [0, W] x [0, H]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    return np.stack([xs, ys], -1)


def _coverage(sdf: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - sdf, 0.0, 1.0)          # anti-aliased coverage: a one-pixel ramp at the edge


def sphere_normals(offset: np.ndarray, radius: float) -> np.ndarray:
    """Normals (..., 3) of a sphere seen from the front, at pixel offsets (..., 2) from its centre."""
    xy = offset / radius
    return np.concatenate([xy, np.sqrt(np.clip(1.0 - (xy ** 2).sum(-1), 0.0, None))[..., None]], -1)


# ---------------------------------------------------------------------------------------------
# 0. The test scene: objects painted over a packaged photograph, with ground truth
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectSpec:
    """One painted object. `size` is (width, height) in px; a circle needs width == height."""

    kind: str
    center: tuple[float, float]
    size: tuple[float, float]
    color: tuple[float, float, float]
    angle: float = 0.0


H, W = 128, 192
# Resting on the ground (y = H), in hues the photo hardly uses (it has a red pagoda, green trees).
DEFAULT_OBJECTS: tuple[ObjectSpec, ...] = (
    ObjectSpec("box", (30.0, H - 14.0), (24.0, 28.0), (0.15, 0.30, 0.95)),        # blue crate
    ObjectSpec("circle", (84.0, H - 11.0), (22.0, 22.0), (0.90, 0.15, 0.75)),     # magenta ball
    ObjectSpec("circle", (126.0, H - 9.0), (18.0, 18.0), (0.10, 0.80, 0.90)),     # cyan ball
    ObjectSpec("box", (166.0, H - 11.0), (22.0, 22.0), (0.55, 0.20, 0.90)),       # purple block
)


@dataclass
class Scene:
    """The input image and everything the pipeline must *not* see (kept for evaluation)."""

    image: np.ndarray          # (H, W, 3) float in [0, 1]: the pipeline's only input
    background: np.ndarray     # (H, W, 3) the photo without objects (ground truth for inpainting)
    masks: np.ndarray          # (K, H, W) bool ground-truth object masks
    objects: tuple[ObjectSpec, ...]
    light: np.ndarray          # (3,) unit vector towards the light
    specular: float            # strength of the balls' highlight (0: a purely Lambertian world)
    occlusion: float           # strength of the contact shadow (0: none)


def load_background(size: tuple[int, int] = (H, W)) -> np.ndarray:
    """scikit-learn's packaged photo of the Summer Palace (no download), cropped and resized."""
    from skimage.transform import resize
    from sklearn.datasets import load_sample_image

    photo = load_sample_image("china.jpg")[100:427, 200:640]   # lake, sky, pagoda, trees
    return resize(photo, size, anti_aliasing=True).astype(np.float64)


def draw_objects(background: np.ndarray, objects: Sequence[ObjectSpec], poses: np.ndarray | None = None,
                 light: Sequence[float] = LIGHT, specular: float = SPECULAR,
                 occlusion: float = OCCLUSION) -> tuple[np.ndarray, np.ndarray]:
    """Paint `objects` over `background` at `poses` (K, 3) = (x, y, angle); return image and masks.

    The toy world's *true* image formation, in linear light, then gamma-encoded:
        linear = albedo^2.2 (a + (1 - a) max(0, n.l)) (1 - o exp(-d / s)) + k max(0, n.h)^p
    with d the pixel's height above the ground (a contact shadow, like ambient occlusion) and a
    Blinn-Phong highlight on the balls (h halfway between the light and the viewer). The relighter
    models neither, so it cannot reproduce these frames by construction.
    """
    height, width = background.shape[:2]
    pts = _pixel_centres(height, width)
    l = np.asarray(light, float) / np.linalg.norm(light)
    half_vec = (l + [0.0, 0.0, 1.0]) / np.linalg.norm(l + [0.0, 0.0, 1.0])
    contact = 1 - occlusion * np.exp(-(height - pts[..., 1]) / OCCLUSION_SCALE)
    image, masks = background.copy(), np.zeros((len(objects), height, width), bool)
    for k, obj in enumerate(objects):
        c = np.asarray(obj.center if poses is None else poses[k, :2], float)
        ang = obj.angle if poses is None else float(poses[k, 2])
        size = np.asarray(obj.size, float)
        alpha = _coverage(rb.sdf(obj.kind, pts, c, size, ang))
        # The mark lives in the body frame: a spot on a ball, a square near a box's corner.
        if obj.kind == "circle":
            mark = _coverage(rb.sdf("circle", pts, c + rb.rot(ang) @ ([0.38, -0.26] * size / 2), size * 0.24, ang))
            normals = sphere_normals(pts - c, size[0] / 2)
            gloss = specular * np.clip(normals @ half_vec, 0, None) ** SHININESS
        else:
            mark = _coverage(rb.sdf("box", pts, c + rb.rot(ang) @ (np.array([-0.22, -0.22]) * size), size * 0.26, ang))
            normals, gloss = np.broadcast_to([0.0, 0.0, 1.0], pts.shape[:2] + (3,)), 0.0
        albedo = (1 - mark[..., None]) * np.asarray(obj.color) + mark[..., None] * np.asarray(MARK_COLOR)
        lambert = AMBIENT + (1 - AMBIENT) * np.clip(normals @ l, 0.0, None)
        linear = albedo ** GAMMA * (lambert * contact)[..., None] + np.asarray(gloss)[..., None]
        color = np.clip(linear, 0, 1) ** (1 / GAMMA)
        image = (1 - alpha[..., None]) * image + alpha[..., None] * color
        masks[k] = alpha >= 0.5
    return image, masks


def make_scene(objects: Sequence[ObjectSpec] = DEFAULT_OBJECTS, size: tuple[int, int] = (H, W),
               light: Sequence[float] = LIGHT, specular: float = SPECULAR, occlusion: float = OCCLUSION) -> Scene:
    """The pipeline's input image: `objects` painted over the packaged photo."""
    check_arg(len(size) == 2 and all(isinstance(s, int) and s >= 16 for s in size), "size", "(height, width) integers >= 16", size)
    for i, obj in enumerate(objects):
        check_choice(f"objects[{i}].kind", obj.kind, ("circle", "box"))
        check_arg(min(obj.size) > 0, f"objects[{i}].size", "positive (width, height)", obj.size)
        check_arg(obj.kind == "box" or obj.size[0] == obj.size[1], f"objects[{i}].size", "width == height for a circle", obj.size)
        check_arg(0 <= obj.center[0] <= size[1] and 0 <= obj.center[1] <= size[0], f"objects[{i}].center",
                  f"a point inside the {size[1]}x{size[0]} image", obj.center)
    background = load_background(size)
    image, masks = draw_objects(background, objects, light=light, specular=specular, occlusion=occlusion)
    return Scene(image, background, masks, tuple(objects), np.asarray(light) / np.linalg.norm(light), specular, occlusion)


# ---------------------------------------------------------------------------------------------
# 1. Perception (Sec. 3.1): masks, primitives, physical properties, normals and light
# ---------------------------------------------------------------------------------------------

# Hue ranges in degrees -> colour names; the "prompt" picks which of them are objects.
HUE_NAMES = (("red", 345, 15), ("orange", 15, 45), ("yellow", 45, 70), ("green", 70, 160),
             ("cyan", 160, 200), ("blue", 200, 255), ("purple", 255, 285), ("magenta", 285, 345))
DEFAULT_PROMPT = ("cyan", "blue", "purple", "magenta")


def hue_name(hue_deg: float) -> str:
    """The colour name of a hue angle (degrees)."""
    h = hue_deg % 360
    return next(name for name, lo, hi in HUE_NAMES if ((lo <= h < hi) if lo < hi else (h >= lo or h < hi)))


def chromaticity(image: np.ndarray) -> np.ndarray:
    """(H, W, 2) features (s cos h, s sin h) from HSV.

    Shading multiplies R, G and B by the same factor, which changes V but leaves hue h and
    saturation s unchanged: the dark and the lit side of one ball land on the same point, so a
    k-means cluster is "one paint", not "one brightness".
    """
    from skimage.color import rgb2hsv

    hsv = rgb2hsv(np.clip(image, 0.0, 1.0))
    ang = 2 * np.pi * hsv[..., 0]
    return np.stack([hsv[..., 1] * np.cos(ang), hsv[..., 1] * np.sin(ang)], -1)


def color_clusters(image: np.ndarray, n_colors: int = 8, seed: int = 0,
                   features: str = "chromaticity") -> tuple[np.ndarray, np.ndarray]:
    """k-means on chromaticity (or raw RGB, the naive choice): labels (H, W), each cluster's mean chromaticity."""
    from sklearn.cluster import KMeans

    check_arg(isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3, "image",
              "an array of shape (H, W, 3)", getattr(image, "shape", type(image).__name__))
    check_arg(float(image.min()) >= 0.0 and float(image.max()) <= 1.0, "image", "values in [0, 1]",
              (float(image.min()), float(image.max())))
    check_arg(isinstance(n_colors, int) and n_colors >= 2, "n_colors", "an integer >= 2", n_colors)
    check_choice("features", features, ("chromaticity", "rgb"))
    chroma = chromaticity(image).reshape(-1, 2)
    feats = chroma if features == "chromaticity" else image.reshape(-1, 3)
    # Fit on a fixed subsample (fast, deterministic), then label every pixel by its nearest centre.
    rng = np.random.default_rng(seed)
    sample = feats[rng.choice(len(feats), size=min(len(feats), 6000), replace=False)]
    labels = KMeans(n_clusters=n_colors, n_init=4, random_state=seed).fit(sample).predict(feats)
    centres = np.stack([chroma[labels == c].mean(0) if (labels == c).any() else np.zeros(2) for c in range(n_colors)])
    return labels.reshape(image.shape[:2]), centres


def segment(image: np.ndarray, prompt: Sequence[str] = DEFAULT_PROMPT, n_colors: int = 8, min_saturation: float = 0.35,
            min_area: int = 40, seed: int = 0, features: str = "chromaticity") -> np.ndarray:
    """Object masks (K, H, W), sorted left to right: colour clustering + connected components.

    Stands where the paper runs Grounded-SAM on GPT-4V's object list: the `prompt` names the
    colours to look for, as the text prompt names the objects to look for.
    """
    unknown = [p for p in prompt if p not in {n for n, _, _ in HUE_NAMES}]
    check_arg(len(prompt) > 0 and not unknown, "prompt", f"colour names from {[n for n, _, _ in HUE_NAMES]}",
              tuple(prompt))
    labels, centres = color_clusters(image, n_colors, seed, features)
    sat = np.linalg.norm(centres, axis=1)
    hue = np.degrees(np.arctan2(centres[:, 1], centres[:, 0]))
    masks: list[np.ndarray] = []
    for c in (c for c in range(n_colors) if sat[c] >= min_saturation and hue_name(hue[c]) in prompt):
        # Fill the holes the unsaturated white marks leave; an opening drops same-coloured speckle
        # in the photo and cuts one-pixel bridges that edge blending draws between neighbours.
        paint = ndimage.binary_opening(ndimage.binary_fill_holes(labels == c), structure=np.ones((3, 3)))
        comps, n = ndimage.label(paint)
        areas = ndimage.sum_labels(np.ones_like(comps), comps, index=np.arange(1, n + 1))
        masks.extend(comps == j for j in np.flatnonzero(areas >= min_area) + 1)
    if not masks:
        raise ValueError(f"image: expected at least one object of colour {tuple(prompt)} "
                         f"(saturation >= {min_saturation}, area >= {min_area} px), found none")
    masks.sort(key=lambda m: np.argwhere(m)[:, 1].mean())
    return np.stack(masks)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def fit_primitive(mask: np.ndarray, circle_iou: float = 0.85, n_angles: int = 90) -> Primitive:
    """Fit a circle and an oriented box to `mask`; keep the circle if it explains the mask well.

    The authors' code keeps a circle when its IoU with the mask exceeds 0.85 and otherwise fits a
    polygon; our polygon is the minimum-area oriented box. Second moments cannot orient a square
    (its inertia is isotropic), so the box angle is found by a search over [-45, 45) degrees.
    """
    check_arg(isinstance(mask, np.ndarray) and mask.ndim == 2, "mask", "a 2-D boolean array", getattr(mask, "shape", mask))
    check_arg(int(mask.sum()) >= 4, "mask", "at least 4 foreground pixels", int(mask.sum()))
    mask = mask.astype(bool)
    pts = np.argwhere(mask)[:, ::-1] + 0.5                  # (n, 2) pixel centres as (x, y)
    centre = pts.mean(0)
    grid = _pixel_centres(*mask.shape)
    radius = math.sqrt(mask.sum() / math.pi)                 # the disc of equal area
    iou_c = mask_iou(mask, _coverage(rb.sdf("circle", grid, centre, np.array([2 * radius] * 2), 0.0)) >= 0.5)

    angles = np.linspace(-np.pi / 4, np.pi / 4, n_angles, endpoint=False)
    proj = np.einsum("nd,adk->akn", pts - centre, rb.rot(angles))      # body-frame coordinates
    lo, hi = proj.min(-1), proj.max(-1)                                 # (A, 2)
    extent = hi - lo + 1.0                                              # + one pixel's width
    best = int(np.argmin(extent.prod(-1)))
    centre_b = centre + rb.rot(angles[best]) @ ((lo[best] + hi[best]) / 2)
    iou_b = mask_iou(mask, _coverage(rb.sdf("box", grid, centre_b, extent[best], float(angles[best]))) >= 0.5)
    if iou_c >= circle_iou and iou_c >= iou_b:
        return Primitive("circle", centre, np.array([2 * radius] * 2), 0.0, iou_c)
    return Primitive("box", centre_b, extent[best], float(angles[best]), iou_b)


# The stand-in for the paper's GPT-4V query "what is this, and what are its mass, friction and
# elasticity?" (Sec. 3.1, S-Fig. 2): (shape, colour) -> material; otherwise the shape alone.
MATERIALS: dict[tuple[str, str], Material] = {
    ("circle", "magenta"): Material("rubber ball", 1.0, 0.9, 0.85),
    ("circle", "cyan"): Material("glass marble", 2.5, 0.2, 0.6),
    ("box", "blue"): Material("wooden crate", 0.6, 0.6, 0.2),
    ("box", "purple"): Material("steel block", 4.0, 0.4, 0.1),
}
FALLBACK = {"circle": Material("ball", 1.0, 0.5, 0.5), "box": Material("block", 1.0, 0.5, 0.3)}


def object_color(image: np.ndarray, mask: np.ndarray) -> str:
    """The colour name of an object: circular mean hue of its saturated pixels."""
    feats = chromaticity(image)[mask]
    feats = feats[np.linalg.norm(feats, axis=1) >= 0.2]            # skip the white mark
    mean = feats.mean(0) if len(feats) else np.zeros(2)
    return hue_name(math.degrees(math.atan2(mean[1], mean[0])))


def estimate_material(kind: str, color: str) -> Material:
    """Physical properties from the rule table (the paper asks GPT-4V here)."""
    check_choice("kind", kind, tuple(FALLBACK))
    return MATERIALS.get((kind, color), FALLBACK[kind])


def normal_map(masks: np.ndarray, prims: Sequence[Primitive]) -> np.ndarray:
    """(H, W, 3) normals: a sphere in each circle, facing the camera elsewhere (where the paper runs GeoWizard)."""
    grid = _pixel_centres(*masks.shape[1:])
    normals = np.broadcast_to(np.array([0.0, 0.0, 1.0]), grid.shape[:2] + (3,)).copy()
    for mask, prim in zip(masks, prims):
        if prim.kind == "circle":
            normals[mask] = sphere_normals(grid[mask] - prim.center, prim.size[0] / 2)
    return normals


def estimate_shading(image: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """(H, W) shading: the brightest linear channel, as if every albedo's brightest channel were ~1.

    Stands where the paper runs the intrinsic decomposition of Careaga & Aksoy."""
    return (np.clip(image, 0, 1) ** gamma).max(-1)


def fit_light(shading: np.ndarray, normals: np.ndarray, image: np.ndarray,
              mask: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The authors' light fit: minimise mean (n.l + c - S)^2 over the image, with c >= 0.1.

    As in their relight code (fact sheet Sec. 3.3): the whole image (`mask=None`), pixels with mean
    intensity in (0.05, 0.95), a grid search over directions (theta step 0.1, phi step 0.25),
    then a local refinement (they use Adam; we use L-BFGS-B). For a fixed direction d the model
    r (n.d) + c is linear, so the grid step solves for (r, c) by least squares.
    Returns the light vector l = r d and the bias c.
    """
    from scipy.optimize import minimize

    keep = (image.mean(-1) > 0.05) & (image.mean(-1) < 0.95)
    if mask is not None:
        keep &= mask
    n, s = normals[keep], shading[keep]
    th, ph = np.meshgrid(np.arange(0, np.pi / 2 + 1e-9, 0.1), np.arange(0, 2 * np.pi, 0.25), indexing="ij")
    dirs = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1).reshape(-1, 3)
    proj = n @ dirs.T                                                   # (P, D)
    cov = ((proj - proj.mean(0)) * (s - s.mean())[:, None]).mean(0)
    r = np.maximum(cov / np.maximum(proj.var(0), 1e-12), 0.0)
    c = np.maximum(s.mean() - r * proj.mean(0), 0.1)
    loss = ((proj * r + c - s[:, None]) ** 2).mean(0)
    k = int(np.argmin(loss))
    x0 = np.array([th.ravel()[k], ph.ravel()[k], r[k], c[k]])

    unit = lambda x: np.array([np.sin(x[0]) * np.cos(x[1]), np.sin(x[0]) * np.sin(x[1]), np.cos(x[0])])  # noqa: E731
    x = minimize(lambda x: float(((n @ unit(x) * x[2] + x[3] - s) ** 2).mean()), x0, method="L-BFGS-B",
                 bounds=[(0, np.pi / 2), (None, None), (0, None), (0.1, None)]).x
    return x[2] * unit(x), float(x[3])


def relight_shading(normals: np.ndarray, light: np.ndarray, bias: float) -> np.ndarray:
    """The authors' foreground shading S = max(0, n.l + c) + 0.2 (relight_utils.py)."""
    return np.clip(normals @ light + bias, 0, None) + 0.2


@dataclass
class Perception:
    masks: np.ndarray                    # (K, H, W) bool
    primitives: list[Primitive]
    colors: list[str]
    materials: list[Material]
    light: np.ndarray                    # (3,) fitted light vector l (direction times strength)
    bias: float                          # fitted shading bias c

    @property
    def masses(self) -> np.ndarray:
        return np.array([m.density * p.area for m, p in zip(self.materials, self.primitives)])

    @property
    def light_direction(self) -> np.ndarray:
        return self.light / np.linalg.norm(self.light)


def perceive(image: np.ndarray, prompt: Sequence[str] = DEFAULT_PROMPT, seed: int = 0,
             features: str = "chromaticity") -> Perception:
    """Sec. 3.1 end to end: masks -> primitives -> colours -> materials; normals, shading -> light."""
    masks = segment(image, prompt=prompt, seed=seed, features=features)
    prims = [fit_primitive(m) for m in masks]
    colors = [object_color(image, m) for m in masks]
    materials = [estimate_material(p.kind, c) for p, c in zip(prims, colors)]
    light, bias = fit_light(estimate_shading(image), normal_map(masks, prims), image)    # whole image, no mask
    return Perception(masks, prims, colors, materials, light, bias)


def match_objects(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-IoU match of predicted to true masks: (index of the true mask for each pred, its IoU)."""
    inter = np.einsum("ahw,bhw->ab", pred.astype(np.int64), true.astype(np.int64))
    union = pred.sum((1, 2))[:, None] + true.sum((1, 2))[None, :] - inter
    iou = inter / np.maximum(union, 1)
    return iou.argmax(1), iou.max(1)


# ---------------------------------------------------------------------------------------------
# 2. Image-space dynamics (Sec. 3.2, Eq. 1-2): the engine is minimal_impls/rigid_body.py
# ---------------------------------------------------------------------------------------------

def world_from(perception: Perception, size: tuple[int, int]) -> rb.World:
    """The image border is the room. Our ground has friction 1 and elasticity 1, so a contact's
    friction and elasticity are the object's own (the authors' defaults, 1 and 0, would stop
    every bounce on the floor)."""
    return rb.make_world(perception.primitives, perception.materials, size, wall_friction=1.0, wall_restitution=1.0)


# The authors' released `car` scene (data/car/sim.yaml, fact sheet Sec. 3.2): a 512x512 side view,
# floor at y = 303, g = 980 px/s^2, dt = 1/60 s, 100 steps, 16 frames; a "toy car" polygon of
# density 0.003, friction 0.2, elasticity 0.05, on ground with friction 0.9, elasticity 1.0,
# launched at v = (-400, 0) px/s. The car's outline and start are ours (their image is not reused).
CAR_SCENE = {"canvas": (512, 512), "floor": 303, "dt": 1 / 60, "steps": 100, "frames": 16, "density": 0.003,
             "friction": 0.2, "restitution": 0.05, "ground_friction": 0.9, "ground_restitution": 1.0,
             "velocity": (-400.0, 0.0), "size": (110.0, 44.0), "start_x": 420.0}


def car_scene(friction: float | None = None, ground_friction: float | None = None) -> dict:
    """Simulate the `car` scene; return its 16 sampled car positions and the closed form.

    The floor is the only collider in the authors' scene, so our room's side walls are put far
    outside the canvas. While it slides, x(t) = x0 + v0 t + mu g t^2 / 2 with mu = mu_car mu_ground.
    """
    s = CAR_SCENE
    mu_car = s["friction"] if friction is None else friction
    mu_ground = s["ground_friction"] if ground_friction is None else ground_friction
    offset = 2048.0                                           # canvas x = room x - offset
    w, h = s["size"]
    prim = Primitive("box", np.array([s["start_x"] + offset, s["floor"] - h / 2]), np.array([w, h]), 0.0)
    world = rb.make_world([prim], [Material("toy car", s["density"], mu_car, s["restitution"])],
                          (s["floor"], 4096 + s["canvas"][1]), wall_friction=mu_ground,
                          wall_restitution=s["ground_restitution"])
    world.vel[0] = s["velocity"]
    traj = rb.simulate(world, duration=s["steps"] * s["dt"], dt=s["dt"], frame_every=1)
    idx = np.arange(0, len(traj.times), len(traj.times) // s["frames"])[: s["frames"]]   # history[::len//16][:16]
    t, v0 = traj.times[idx], s["velocity"][0]
    decel = mu_car * mu_ground * GRAVITY                         # this run's mu, by Pymunk's product rule
    t_stop = abs(v0) / decel
    tc = np.minimum(t, t_stop)
    exact = s["start_x"] + v0 * tc + 0.5 * decel * tc ** 2
    return {"times": t, "x": traj.pos[idx, 0, 0] - offset, "exact": exact, "angle": traj.angle[idx, 0],
            "mu": float(rb.combine(np.array(mu_car), np.array(mu_ground)))}


# ---------------------------------------------------------------------------------------------
# 3. Rendering (Sec. 3.3): inpainting, composition, relighting, frames -> GIF
# ---------------------------------------------------------------------------------------------

def inpaint_background(image: np.ndarray, masks: np.ndarray, grow: int = 2) -> np.ndarray:
    """Fill the objects' footprint from the surrounding photo (the paper uses Inpaint-Anything).

    Biharmonic inpainting solves a smooth interpolation from the hole's border; masks are grown
    by `grow` px first so the anti-aliased object edge is not smeared inwards.
    """
    from skimage.restoration import inpaint_biharmonic

    check_arg(masks.ndim == 3 and masks.shape[1:] == image.shape[:2], "masks", f"shape (K, {image.shape[0]}, {image.shape[1]})", masks.shape)
    hole = ndimage.binary_dilation(masks.any(0), iterations=grow)
    return np.clip(inpaint_biharmonic(image, hole, channel_axis=-1), 0.0, 1.0)


def albedo_image(image: np.ndarray, perception: Perception, gamma: float = GAMMA) -> np.ndarray:
    """The authors' albedo inside the masks: A = I^gamma / S, S from the fitted light (I = A S)."""
    shading = relight_shading(normal_map(perception.masks, perception.primitives), perception.light, perception.bias)
    fg = perception.masks.any(0)[..., None]
    return np.where(fg, image ** gamma / shading[..., None], image ** gamma)


def render_video(image: np.ndarray, background: np.ndarray, perception: Perception, traj: Trajectory,
                 relight: bool = True, gamma: float = GAMMA, angle_sign: float = 1.0) -> np.ndarray:
    """Frames (T, H, W, 3) uint8: each object's pixels moved to its simulated pose and composited.

    For an output pixel p, object k at pose (x_t, theta_t) shows the input pixel
        s = x_0 + R(theta_0 - theta_t) (p - x_t),
    sampled bilinearly for all frames and objects in one grid_sample call (on the GPU if present).
    With `relight`, the albedo is moved instead and re-shaded with the normals *at the new pose*
    (for a sphere, the same map around the new centre), then gamma-encoded. `angle_sign=-1` is
    the classic sign slip between the simulator's and the warp's rotation convention.
    """
    dev = device()
    T, K = traj.pos.shape[:2]
    height, width = image.shape[:2]
    check_arg(K == len(perception.primitives), "traj", f"{len(perception.primitives)} bodies", K)
    src = albedo_image(image, perception, gamma) if relight else image
    alpha = perception.masks.astype(np.float64)
    # premultiplied colour, so bilinear sampling at the edge does not pull in background colour
    rgba = np.concatenate([src[None] * alpha[..., None], alpha[..., None]], -1)        # (K, H, W, 4)
    rgba = torch.as_tensor(rgba, dtype=torch.float32, device=dev).permute(0, 3, 1, 2)  # (K, 4, H, W)
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    x0 = as_t(np.stack([p.center for p in perception.primitives]))                       # (K, 2)
    th0 = np.array([p.angle for p in perception.primitives])
    grid = as_t(_pixel_centres(height, width))
    rel = grid[None, None] - as_t(traj.pos)[:, :, None, None]                           # (T, K, H, W, 2)
    R = as_t(rb.rot(angle_sign * (th0[None] - traj.angle)))                              # (T, K, 2, 2)
    s = torch.einsum("tkij,tkhwj->tkhwi", R, rel) + x0[None, :, None, None]
    norm = (2 * s / as_t([width, height]) - 1).reshape(T * K, height, width, 2)   # align_corners=False
    sampled = F.grid_sample(rgba.repeat(T, 1, 1, 1), norm, mode="bilinear", padding_mode="zeros",
                            align_corners=False).reshape(T, K, 4, height, width)
    a = sampled[:, :, 3].clamp(0, 1)                                                    # (T, K, H, W)
    color = sampled[:, :, :3] / sampled[:, :, 3:].clamp_min(1e-6)
    if relight:
        radius = as_t([p.size[0] / 2 for p in perception.primitives])
        is_circle = torch.as_tensor([p.kind == "circle" for p in perception.primitives], device=dev)
        xy = rel / radius[None, :, None, None, None]
        normals = torch.cat([xy, (1 - (xy ** 2).sum(-1)).clamp_min(0).sqrt()[..., None]], -1)
        normals = torch.where(is_circle[None, :, None, None, None], normals, as_t([0.0, 0.0, 1.0]).expand_as(normals))
        shading = (normals @ as_t(perception.light) + perception.bias).clamp_min(0) + 0.2
        color = (color * shading[:, :, None]).clamp(0, 1) ** (1 / gamma)
    # "over" compositing, object 0 at the back: frame = bg prod(1 - a_k) + sum_k c_k a_k prod_{j>k}(1 - a_j)
    behind = torch.cumprod(torch.cat([1 - a, torch.ones_like(a[:, :1])], 1).flip(1), 1).flip(1)  # (T, K+1, H, W)
    frame = as_t(background).permute(2, 0, 1)[None] * behind[:, :1] + (color * (a * behind[:, 1:])[:, :, None]).sum(1)
    return (frame.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).cpu().numpy()


def ground_truth_video(scene: Scene, perception: Perception, traj: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """The toy world's true frames at the simulated poses (and masks), for scoring the renderer.

    Each perceived object carries its matched true object rigidly: same rotation, same offset.
    """
    match, _ = match_objects(perception.masks, scene.masks)
    x0 = np.stack([p.center for p in perception.primitives])
    th0 = np.array([p.angle for p in perception.primitives])
    frames, masks = [], []
    for t in range(len(traj.times)):
        dth = traj.angle[t] - th0
        specs = [scene.objects[j] for j in match]
        poses = np.array([[*(traj.pos[t, k] + rb.rot(dth[k]) @ (np.asarray(o.center) - x0[k])), o.angle + dth[k]]
                          for k, o in enumerate(specs)])
        img, m = draw_objects(scene.background, specs, poses, scene.light, scene.specular, scene.occlusion)
        frames.append(img)
        masks.append(m.any(0))
    return (np.clip(np.stack(frames), 0, 1) * 255 + 0.5).astype(np.uint8), np.stack(masks)


def appearance_error(frames: np.ndarray, truth: np.ndarray, masks: np.ndarray) -> float:
    """Mean absolute RGB error (0-255 scale) over the true object pixels of every frame."""
    diff = np.abs(frames.astype(np.float64) - truth.astype(np.float64)).mean(-1)
    return float(diff[masks].mean())


def quantize_frames(frames: np.ndarray, colors: int = 128) -> np.ndarray:
    """One shared, undithered palette for all frames (RGB), so a GIF stores only what moved.

    Quantising each frame on its own dithers the static photo differently every time: megabytes.
    """
    from PIL import Image

    check_arg(frames.ndim == 4 and frames.shape[-1] == 3 and frames.dtype == np.uint8, "frames",
              "a uint8 array of shape (T, H, W, 3)", (frames.shape, str(frames.dtype)))
    palette = Image.fromarray(np.concatenate(list(frames[::max(1, len(frames) // 6)]), 0)).quantize(
        colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return np.stack([np.asarray(Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
                                .convert("RGB")) for f in frames])


# ---------------------------------------------------------------------------------------------
# 3b. Generative refinement (Sec. 3.4, Algorithm 1) with a toy denoiser
# ---------------------------------------------------------------------------------------------

def ddim_alpha_bar(n_train: int = 1000, beta: tuple[float, float] = (0.00085, 0.012)) -> np.ndarray:
    """Cumulative alpha_bar_t of the scaled-linear beta schedule of Stable Diffusion (SEINE's VAE)."""
    return np.cumprod(1.0 - np.linspace(beta[0] ** 0.5, beta[1] ** 0.5, n_train) ** 2)


@dataclass
class GaussianVideoPrior:
    """A stand-in for SEINE: the exact denoiser of videos x0 ~ N(mean, C), C stationary per frame.

    C is diagonal in the 2-D Fourier basis with spectrum `power`, so the posterior mean is a
    Wiener filter, E[x0 | z_t] = mean + F^-1[ sqrt(a) P / (a P + 1 - a) F(z_t - sqrt(a) mean) ],
    a = alpha_bar_t: the "model" pulls every frame towards `mean`, its idea of the video.
    """

    mean: np.ndarray             # (F, H, W)
    power: np.ndarray            # (H, W)

    def x0_hat(self, z: np.ndarray, alpha_bar: float) -> np.ndarray:
        a = alpha_bar
        gain = math.sqrt(a) * self.power / (a * self.power + 1.0 - a)
        return self.mean + np.fft.ifft2(gain * np.fft.fft2(z - math.sqrt(a) * self.mean)).real


def smooth_power(shape: tuple[int, int], std: float = 0.3, length: float = 2.0) -> np.ndarray:
    """Spectrum of a stationary field of standard deviation `std` and correlation length `length` px."""
    ky, kx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
    p = np.exp(-2 * (math.pi * length) ** 2 * (kx ** 2 + ky ** 2))
    return std ** 2 * p * p.size / p.sum()


def refine(guide: np.ndarray, mask: np.ndarray, prior: GaussianVideoPrior, strength: float = 0.5,
           steps: int = 50, stop: int = 5, fuse: bool = True, condition: str = "code", seed: int = 0) -> np.ndarray:
    """Algorithm 1: SDEdit from the relit video's latents z~0 (`guide`), fusing the foreground.

    n = round(steps * strength) DDIM steps (eta = 0) run from z_n ~ q(z_n | z~0). After step i
    (i = 0..n-1, so t = n - i counts down) the foreground is pulled to the re-noised guidance:
        z <- (1 - m) z + m [w z + (1 - w) z~_{t-1}],  w = (T - t) / T = i / n,
    with z~_{t-1} ~ q(z_{t-1} | z~0). `condition="code"`: fuse for i < n - stop, so the last
    `stop` steps are the model's alone (the authors' code, and the prose: delta is "the signal
    to stop the fusion"). `condition="printed"`: Algorithm 1's line "if t <= T - delta" as
    printed, which skips the *first* `stop` steps and fuses until the end.
    """
    check_arg(guide.ndim == 3 and mask.shape == guide.shape, "mask", f"shape {guide.shape}", mask.shape)
    check_arg(0 < strength <= 1, "strength", "a number in (0, 1]", strength)
    check_choice("condition", condition, ("code", "printed"))
    rng = np.random.default_rng(seed)
    abar = ddim_alpha_bar()
    ts = np.arange(0, len(abar), len(abar) // steps)[::-1]              # 980, 960, ..., 0
    n = int(round(steps * strength))
    ts = ts[-n:]
    m = mask.astype(np.float64) if fuse else np.zeros_like(guide)
    z = math.sqrt(abar[ts[0]]) * guide + math.sqrt(1 - abar[ts[0]]) * rng.standard_normal(guide.shape)
    for i, t in enumerate(ts):
        a, a_prev = abar[t], (abar[ts[i + 1]] if i + 1 < n else 1.0)
        x0 = prior.x0_hat(z, a)
        eps = (z - math.sqrt(a) * x0) / math.sqrt(1 - a)
        z = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps      # DDIM, eta = 0
        if (i < n - stop) if condition == "code" else (i >= stop):
            guided = math.sqrt(a_prev) * guide + math.sqrt(1 - a_prev) * rng.standard_normal(guide.shape)
            w = i / n
            z = (1 - m) * z + m * (w * z + (1 - w) * guided)
    return z


def fusion_drift(out: np.ndarray, guide: np.ndarray, prior_mean: np.ndarray, mask: np.ndarray) -> float:
    """How far the refined foreground went from the simulated frames towards the model's own video:
    mean |out - guide| / mean |prior - guide| over the foreground (0: stays, 1: the model's)."""
    m = mask.astype(bool)
    return float(np.abs(out - guide)[m].mean() / np.abs(prior_mean - guide)[m].mean())


# ---------------------------------------------------------------------------------------------
# 4. The whole pipeline
# ---------------------------------------------------------------------------------------------

@dataclass
class Rollout:
    pushes: tuple[Push, ...]
    trajectory: Trajectory
    frames: np.ndarray           # (T, H, W, 3) uint8, relit composite
    first_hit: int               # first object the pushed one touched (-1: none)
    predicted_hit: int           # what kinematics alone predicts for the first push


@dataclass
class RunResult:
    scene: Scene; perception: Perception; background: np.ndarray; rollouts: dict[str, Rollout]  # noqa: E702


# Three readers' choices for the magenta ball (object 1): roll it left, right, or lob it over its neighbour.
DEFAULT_CONTROLS: dict[str, tuple[Push, ...]] = {
    "push left": (Push(1, (-5.0, 0.0)),),
    "push right": (Push(1, (5.0, 0.0)),),
    "lob right": (Push(1, (2.0, -7.0)),),
}


def rollout(scene: Scene, perception: Perception, background: np.ndarray, pushes: Sequence[Push],
            duration: float = 2.0, frame_every: int = 12, relight: bool = True) -> Rollout:
    """Simulate one control from the perceived initial state and render it."""
    traj = rb.simulate(world_from(perception, scene.image.shape[:2]), pushes, duration=duration,
                       frame_every=frame_every)
    frames = render_video(scene.image, background, perception, traj, relight=relight)
    predicted = -1
    if pushes and perception.primitives[pushes[0].target].kind == "circle":
        predicted = rb.predict_first_hit(perception.primitives, pushes[0], scene.image.shape[:2])
    return Rollout(tuple(pushes), traj, frames, traj.first_hit(pushes[0].target) if pushes else -1, predicted)


def run(controls: Mapping[str, Sequence[Push]] | None = None, duration: float = 2.0, frame_every: int = 12,
        scene: Scene | None = None, seed: int = 0) -> RunResult:
    """Image -> perception -> one simulation and video per control. Deterministic for a seed."""
    controls = DEFAULT_CONTROLS if controls is None else controls
    check_arg(isinstance(controls, Mapping) and len(controls) > 0, "controls",
              "a non-empty mapping name -> sequence of Push", type(controls).__name__)
    seed_everything(seed)
    scene = make_scene() if scene is None else scene
    perception = perceive(scene.image, seed=seed)
    background = inpaint_background(scene.image, perception.masks)
    rollouts = {name: rollout(scene, perception, background, pushes, duration, frame_every)
                for name, pushes in controls.items()}
    return RunResult(scene, perception, background, rollouts)
