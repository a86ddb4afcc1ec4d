"""Vision Transformer (ViT): a minimal, readable reference on 8×8 digits.

Dosovitskiy, Beyer, Kolesnikov, Weissenborn, Zhai, Unterthiner, Dehghani, Minderer, Heigold, Gelly,
Uszkoreit, Houlsby. "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale."
ICLR 2021. https://arxiv.org/abs/2010.11929

The idea in one line: cut the image into patches, treat each flattened patch as a word, and run an
unmodified Transformer encoder over the sequence; classify from an extra learnable [class] token.

What this toy keeps (equation numbers are the paper's):
  * patch embedding: non-overlapping P×P patches, flattened, one shared linear map E      (eq. 1)
  * a learnable [class] token prepended to the patch tokens                              (eq. 1)
  * learned 1-D position embeddings E_pos, one per token, added before the encoder       (eq. 1)
  * pre-norm encoder blocks: LN → multi-head self-attention → residual                   (eq. 2)
                             LN → MLP with GELU → residual                               (eq. 3)
  * multi-head self-attention as in Appendix A                                     (eqs. 5–8)
  * the image representation is LN of the final [class] state, then a linear head        (eq. 4)
  * AdamW (weight decay on matrices only), linear warm-up, then decay (Sec. 4.1; App. B.1), and
    a one-pixel random translation standing in for the random crops of the paper's training
  * attention rollout to see where the [class] token looks (Fig. 6; Abnar & Zuidema 2020)
  * Fig. 7's three panels: principal components of the patch filters E (left), cosine similarity
    of position embeddings (centre), mean attention distance per head and depth (right), and a
    locality measure that can fail (attention mass on the 4 grid neighbours)
  * fine-tuning at a higher resolution with the same patch size: E_pos interpolated in 2-D on the
    patch grid, every other weight reused                                              (Sec. 3.2)
  * simple baselines on the same split (logistic regression, 1-NN on raw pixels): the honest reference
  * a small CNN of similar size as the baseline with the "right" inductive bias (Sec. 3.1), and
    training to convergence (early stopping on a validation split) for data-size comparisons

What it drops:
  * scale: 8×8 grey digits, 2×2 patches (16 tokens), 18 k parameters and 1.3 k training
    images, instead of 224² images, 16×16 patches, 86–632 M parameters and 300 M (JFT) images
  * pre-training on a large data set (our "higher resolution" is the same digits upsampled to 12×12)
  * the hybrid variant (patches taken from a CNN feature map)
  * dropout, the MLP head used at pre-training time (we train the single linear head of fine-tuning)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls.common import (check_arg, check_choice, check_number, check_positive, check_shape, device,
                                  load_digits_split, seed_everything)


# ----------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 8      # H = W
    patch_size: int = 2      # P: 8×8 digits → a 4×4 grid of 16 patch tokens
    channels: int = 1        # C
    dim: int = 32            # D, the width of every token
    depth: int = 2           # L, encoder blocks
    heads: int = 2           # k, attention heads (D_h = D / k)
    mlp_dim: int = 64        # hidden width of the MLP in eq. (3)
    num_classes: int = 10    # 0 → no head; forward() then returns the representation y of eq. (4)

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "channels", "dim", "depth", "heads", "mlp_dim"):
            check_positive(name, getattr(self, name), integer=True)
        check_arg(self.image_size % self.patch_size == 0, "patch_size",
                  f"a divisor of image_size={self.image_size}", self.patch_size)
        check_arg(self.dim % self.heads == 0, "heads", f"a divisor of dim={self.dim}", self.heads)
        check_number("num_classes", self.num_classes, low=0, integer=True)

    @property
    def grid(self) -> int:
        """Patches per side: the token grid is grid × grid."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """N = HW / P² in the paper's notation."""
        return self.grid ** 2


# ----------------------------------------------------------------------------------------------------
# Eq. (1): images → a sequence of patch tokens
# ----------------------------------------------------------------------------------------------------

def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Reshape (B, C, H, W) images into (B, N, P²·C) flattened patches, row-major over the grid.

    This is x_p in eq. (1). A reshape, not a convolution: the linear map E comes afterwards.
    """
    if images.dim() != 4:
        raise ValueError(f"images: expected shape (B, C, H, W), got {tuple(images.shape)}")
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"images: expected H and W divisible by patch_size={patch_size}, got {h}×{w}")
    gh, gw = h // patch_size, w // patch_size
    x = images.reshape(b, c, gh, patch_size, gw, patch_size)
    # (B, gh, gw, P, P, C): each patch becomes one contiguous vector, patches ordered row by row
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, gh * gw, patch_size * patch_size * c)


# ----------------------------------------------------------------------------------------------------
# Appendix A, eqs. (5)–(8): multi-head self-attention
# ----------------------------------------------------------------------------------------------------

class MultiHeadSelfAttention(nn.Module):
    """MSA(z) = [SA_1(z); …; SA_k(z)] U_msa with SA(z) = softmax(q kᵀ / √D_h) v.

    ``causal=True`` masks out future tokens; ViT does not need it, CLIP's text encoder does.
    """

    def __init__(self, dim: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        check_arg(dim % heads == 0, "heads", f"a divisor of dim={dim}", heads)
        self.heads, self.head_dim, self.causal = heads, dim // heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)   # U_qkv, eq. (5): all heads' q, k, v in one matmul
        self.proj = nn.Linear(dim, dim)      # U_msa, eq. (8): mixes the concatenated heads

    def _split_heads(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, d = z.shape
        qkv = self.qkv(z).reshape(b, n, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)   # each (B, heads, N, D_h)
        return q, k, v

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 3 or z.shape[-1] != self.heads * self.head_dim:
            raise ValueError(f"z: expected shape (B, N, {self.heads * self.head_dim}), got {tuple(z.shape)}")
        q, k, v = self._split_heads(z)
        # eqs. (6)–(7) fused: softmax(q kᵀ/√D_h) v without materialising A (flash/memory-efficient kernels)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        out = out.transpose(1, 2).reshape(z.shape)   # concatenate the heads, eq. (8)
        return self.proj(out)

    @torch.no_grad()
    def attention_weights(self, z: torch.Tensor) -> torch.Tensor:
        """A = softmax(q kᵀ / √D_h) of eq. (6), shape (B, heads, N, N): for inspection only."""
        q, k, _ = self._split_heads(z)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if self.causal:
            n = z.shape[1]
            future = torch.ones(n, n, dtype=torch.bool, device=z.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        return scores.softmax(dim=-1)


# ----------------------------------------------------------------------------------------------------
# Eqs. (2)–(3): one pre-norm encoder block
# ----------------------------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, causal: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, causal=causal)
        self.norm2 = nn.LayerNorm(dim)
        # "The MLP contains two layers with a GELU non-linearity" (Sec. 3.1)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z + self.attn(self.norm1(z))   # eq. (2): z'_ℓ = MSA(LN(z_{ℓ-1})) + z_{ℓ-1}
        z = z + self.mlp(self.norm2(z))    # eq. (3): z_ℓ  = MLP(LN(z'_ℓ)) + z'_ℓ
        return z                           # pre-norm keeps an identity path from input to output


# ----------------------------------------------------------------------------------------------------
# The model: eqs. (1)–(4)
# ----------------------------------------------------------------------------------------------------

class ViT(nn.Module):
    def __init__(self, config: ViTConfig = ViTConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.patch_embed = nn.Linear(c.patch_size ** 2 * c.channels, c.dim)         # E
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))                     # x_class
        self.pos_embed = nn.Parameter(torch.zeros(1, c.num_patches + 1, c.dim))     # E_pos (1-D, learned)
        # small random inits: E_pos starts out knowing nothing about the 2-D grid
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_dim) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.num_classes) if c.num_classes else nn.Identity()

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Eq. (1): z_0 = [x_class; x_p^1 E; …; x_p^N E] + E_pos, shape (B, N+1, D)."""
        c = self.config
        check_shape("images", images, (None, c.channels, c.image_size, c.image_size))
        tokens = self.patch_embed(patchify(images, c.patch_size))
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Eq. (4): y = LN(z_L^0), the final state of the [class] token, shape (B, D)."""
        z = self.embed(images)
        for block in self.blocks:
            z = block(z)
        return self.norm(z[:, 0])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Every layer's attention weights A, shape (L, B, heads, N+1, N+1)."""
        z, maps = self.embed(images), []
        for block in self.blocks:
            maps.append(block.attn.attention_weights(block.norm1(z)))
            z = block(z)
        return torch.stack(maps)


# ----------------------------------------------------------------------------------------------------
# Sec. 4 (Figs. 6–7): inspecting the model
# ----------------------------------------------------------------------------------------------------

@torch.no_grad()
def attention_rollout(model: ViT, images: torch.Tensor) -> torch.Tensor:
    """Where the [class] token attends, through all layers (Abnar & Zuidema 2020, the paper's App. D.8).

    Average the heads, add the identity for the residual path (each layer passes half its input
    straight on), renormalise, and multiply the layers' matrices. Returns (B, grid, grid) maps.
    """
    maps = model.attention_maps(images).mean(dim=2)            # (L, B, N+1, N+1)
    eye = torch.eye(maps.shape[-1], device=maps.device)
    maps = 0.5 * maps + 0.5 * eye
    maps = maps / maps.sum(dim=-1, keepdim=True)
    rollout = maps[0]
    for layer in maps[1:]:                                      # later layers act on earlier mixes
        rollout = layer @ rollout
    g = model.config.grid
    return rollout[:, 0, 1:].reshape(-1, g, g)                  # [class] row, patch columns


@torch.no_grad()
def position_similarity(model: ViT) -> torch.Tensor:
    """Cosine similarity between the patches' position embeddings (Fig. 7, centre).

    Returns (grid, grid, grid, grid): entry [i, j] is the (grid × grid) map of how similar the
    embedding of the patch at row i, column j is to every other patch's. The [class] slot is left out.
    """
    pos = F.normalize(model.pos_embed[0, 1:], dim=-1)
    g = model.config.grid
    return (pos @ pos.T).reshape(g, g, g, g)


def grid_distances(grid: int) -> torch.Tensor:
    """Manhattan distance between every pair of cells of a grid × grid layout, shape (N, N)."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    cells = torch.stack([rows.flatten(), cols.flatten()], dim=1)
    return torch.cdist(cells.float(), cells.float(), p=1)


@torch.no_grad()
def position_similarity_gap(model: ViT, far: int = 3) -> float:
    """Mean cosine similarity of 4-neighbour patches minus that of patches ≥ ``far`` apart.

    Near 0 at initialisation (random E_pos); positive when E_pos has learned the 2-D layout that the
    1-D embedding was never told about.
    """
    g = model.config.grid
    check_number("far", far, low=2, high=2 * (g - 1), integer=True)
    sim = position_similarity(model).reshape(g * g, g * g).cpu()
    dist = grid_distances(g)
    return float(sim[dist == 1].mean() - sim[dist >= far].mean())


@torch.no_grad()
def embedding_filters(model: ViT) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of the patch projection E (Fig. 7, left), as images.

    Each of the D rows of E is a filter over one P×P×C patch. The paper shows the top principal
    components of these filters. Returns ``(components, explained)``: components shaped
    (P²C, P, P, C), strongest first, and the fraction of the filters' variance each explains.
    """
    c = model.config
    w = model.patch_embed.weight.detach().cpu()                # (D, P²C): one filter per row
    _, s, vh = torch.linalg.svd(w - w.mean(0), full_matrices=False)
    explained = s ** 2 / (s ** 2).sum()
    # rows of vh are in patchify's order (row, col, channel)
    return vh.reshape(-1, c.patch_size, c.patch_size, c.channels), explained


def dc_alignment(components: torch.Tensor) -> float:
    """|cosine| between the first principal filter and the flat "mean brightness" filter.

    1 when the strongest direction of E just measures how much ink a patch holds; about 0.5 for a
    random direction in 4-D (P = 2, one channel).
    """
    first = components[0].flatten()
    return float(first.sum().abs() / (first.norm() * first.numel() ** 0.5))


@torch.no_grad()
def mean_attention_distance(model: ViT, images: torch.Tensor) -> torch.Tensor:
    """Mean attention distance in pixels per layer and head, shape (L, heads) (Fig. 7, right).

    The paper averages, over images, the distance between the query pixel and every other pixel,
    weighted by the attention weight: the analogue of a CNN's receptive field size. We measure it
    between patch centres, for patch queries over patch keys (the [class] token has no place on
    the image, so its column is dropped and the rows renormalised).
    """
    c = model.config
    maps = model.attention_maps(images)[..., 1:, 1:]            # (L, B, heads, N, N)
    maps = maps / maps.sum(dim=-1, keepdim=True)
    rows, cols = torch.meshgrid(torch.arange(c.grid), torch.arange(c.grid), indexing="ij")
    cells = torch.stack([rows.flatten(), cols.flatten()], dim=1).float().to(maps.device)
    dist = torch.cdist(cells, cells) * c.patch_size            # between patch centres, in pixels
    return (maps * dist).sum(dim=-1).mean(dim=(1, 3))         # average over images and queries


@torch.no_grad()
def neighbour_attention_mass(model: ViT, images: torch.Tensor) -> torch.Tensor:
    """Share of each patch query's attention (over patch keys) that lands on its 4 grid neighbours,
    averaged over images and queries, per layer and head: shape (L, heads).

    A locality measure that can fail: uniform attention gives ``uniform_neighbour_mass(grid)`` (3/16 on
    a 4×4 grid), attention to oneself gives 0, and only a head that looks next door scores high.
    """
    maps = model.attention_maps(images)[..., 1:, 1:]            # (L, B, heads, N, N), patches only
    maps = maps / maps.sum(dim=-1, keepdim=True)
    neighbours = (grid_distances(model.config.grid) == 1).float().to(maps.device)
    return (maps * neighbours).sum(dim=-1).mean(dim=(1, 3))


def uniform_neighbour_mass(grid: int) -> float:
    """What ``neighbour_attention_mass`` gives for uniform attention: mean neighbour count / N."""
    return float((grid_distances(grid) == 1).float().sum(dim=1).mean() / grid ** 2)


# ----------------------------------------------------------------------------------------------------
# Sec. 3.2: fine-tuning at a higher resolution, 2-D interpolation of E_pos
# ----------------------------------------------------------------------------------------------------

def resize_pos_embed(pos_embed: torch.Tensor, new_grid: int, mode: str = "2d") -> torch.Tensor:
    """E_pos (1, 1 + g², D) → (1, 1 + new_grid², D) for a longer sequence of patches (Sec. 3.2).

    ``"2d"``: the paper's 2-D interpolation "according to their location in the original image": the
    g² patch slots are laid out on their grid and resized bilinearly; the [class] slot is kept.
    ``"reset"``: fresh random patch slots (the naive control: the model must relearn where patches are).
    ``"1d"``: interpolating the flattened sequence as if it were 1-D (a common mistake: rows get mixed).
    """
    check_choice("mode", mode, ("2d", "reset", "1d"))
    check_positive("new_grid", new_grid, integer=True)
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]
    g, d = math.isqrt(patches.shape[1]), patches.shape[2]
    check_arg(g * g == patches.shape[1], "pos_embed", "1 + a square number of slots", tuple(pos_embed.shape))
    if mode == "2d":
        grid = patches.reshape(1, g, g, d).permute(0, 3, 1, 2)                      # (1, D, g, g)
        grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=False)
        patches = grid.permute(0, 2, 3, 1).reshape(1, new_grid ** 2, d)
    elif mode == "1d":
        patches = F.interpolate(patches.transpose(1, 2), size=new_grid ** 2, mode="linear",
                                align_corners=False).transpose(1, 2)
    else:
        patches = nn.init.trunc_normal_(torch.empty(1, new_grid ** 2, d, device=pos_embed.device), std=0.02)
    return torch.cat([cls, patches], dim=1)


def at_resolution(model: ViT, image_size: int, mode: str = "2d") -> ViT:
    """A copy of ``model`` for ``image_size`` × ``image_size`` inputs with the same patch size: every
    weight is reused (none depends on N) except E_pos, resized by ``resize_pos_embed(…, mode)``."""
    c = model.config
    new = ViT(ViTConfig(**{**c.__dict__, "image_size": image_size}))
    state = {k: v for k, v in model.state_dict().items() if k != "pos_embed"}
    new.load_state_dict(state, strict=False)
    with torch.no_grad():
        new.pos_embed.copy_(resize_pos_embed(model.pos_embed.detach().cpu(), new.config.grid, mode))
    return new.to(next(model.parameters()).device)


def upsample(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """Digits at a higher resolution (bilinear): the fine-tuning images of Sec. 3.2's recipe."""
    check_positive("image_size", image_size, integer=True)
    return F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------------
# The baseline: a small CNN (translation equivariance and locality built in, Sec. 3.1)
# ----------------------------------------------------------------------------------------------------

class SmallCNN(nn.Module):
    """Three 3×3 conv layers, one 2× max-pool, global average pooling, linear head.

    ``width=14`` gives 18.4 k parameters, the same as the default ViT (18.2 k).
    """

    def __init__(self, channels: int = 1, num_classes: int = 10, width: int = 14) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(4 * width, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"images: expected shape (B, C, H, W), got {tuple(images.shape)}")
        return self.net(images)


def shift_augmented(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image in all nine one-pixel translations (including none), zero-filled: the deterministic
    counterpart of ``random_shift``'s jitter, for models trained in one go rather than by batches."""
    padded = F.pad(images, (1, 1, 1, 1))
    h, w = images.shape[-2:]
    copies = [padded[..., dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
    return torch.cat(copies), labels.repeat(9)


def pixel_baseline_accuracy(kind: str, train_fraction: float = 1.0, seed: int = 0, validation: float = 0.0,
                            augment: bool = False) -> float:
    """Test accuracy of a simple model on the raw 64 pixels, on exactly the split the ViT uses:
    ``"logreg"`` (multinomial logistic regression) or ``"1nn"`` (nearest neighbour, Euclidean).

    The honest reference for any number the toy ViT reaches: 8×8 digits are easy. ``augment`` fits it
    on the one-pixel shifts of every training image, the translations the networks are trained with;
    off by default, because a linear model on pixels cannot shift its template and scores worse with it
    (the unaugmented model is the stronger baseline).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    check_choice("kind", kind, ("logreg", "1nn"))
    data = digits(train_fraction, seed=seed, validation=validation)
    x_tr, y_tr, x_te, y_te = data[0], data[1], data[-2], data[-1]
    if augment:
        x_tr, y_tr = shift_augmented(x_tr, y_tr)
    model = LogisticRegression(max_iter=2000) if kind == "logreg" else KNeighborsClassifier(n_neighbors=1)
    model.fit(x_tr.flatten(1).numpy(), y_tr.numpy())
    return float(model.score(x_te.flatten(1).numpy(), y_te.numpy()))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------------------------------
# Data and training
# ----------------------------------------------------------------------------------------------------

def digits(train_fraction: float = 1.0, seed: int = 0,
           validation: float = 0.0) -> tuple[torch.Tensor, ...]:
    """The 8×8 digits as (N, 1, 8, 8) images: ``x_train, y_train, x_test, y_test``.

    ``seed`` draws the stratified train/test split (450 test images) and the ``train_fraction`` kept of
    the training split, so that the same seed always gives the same data. With ``validation > 0`` that
    share of the training split is set aside first (the same images whatever the fraction) and the
    result is ``x_train, y_train, x_val, y_val, x_test, y_test``: the validation set is what early
    stopping reads, never the test set.
    """
    check_number("train_fraction", train_fraction, low=0, high=1, strict_low=True)
    check_number("validation", validation, low=0, high=0.5)
    from sklearn.model_selection import train_test_split

    x_tr, y_tr, x_te, y_te = load_digits_split(test_fraction=0.25, seed=seed)
    x_val = y_val = None
    if validation > 0:
        keep, val = train_test_split(torch.arange(len(y_tr)).numpy(), test_size=validation,
                                     random_state=seed, stratify=y_tr.numpy())
        x_val, y_val, x_tr, y_tr = x_tr[val], y_tr[val], x_tr[keep], y_tr[keep]
    if train_fraction < 1.0:
        keep, _ = train_test_split(torch.arange(len(y_tr)).numpy(), train_size=train_fraction,
                                   random_state=seed, stratify=y_tr.numpy())
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    if validation > 0:
        return x_tr.unsqueeze(1), y_tr, x_val.unsqueeze(1), y_val, x_te.unsqueeze(1), y_te
    return x_tr.unsqueeze(1), y_tr, x_te.unsqueeze(1), y_te


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift]², filling with zeros.

    The paper trains with random crops; on 8×8 digits a one-pixel jitter plays that role. It is also
    what makes E_pos learn the 2-D layout: a stroke that lands in one patch could as well have landed
    in its neighbour, so neighbouring positions should behave alike.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator).to(images.device)
    rows = (offsets[:, 0, None] + torch.arange(h, device=images.device))[:, None, :, None]   # (B, 1, H, 1)
    cols = (offsets[:, 1, None] + torch.arange(w, device=images.device))[:, None, None, :]   # (B, 1, 1, W)
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    chan = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW that decays only weight matrices and embeddings (ndim ≥ 2), not biases or LayerNorm gains.

    Decaying a gain or bias pulls it towards 0, which is not "simpler", just wrong; both papers'
    reference code exclude them (and CLIP excludes its temperature).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    # fused: one kernel for all parameters instead of a Python loop over them (same maths)
    return torch.optim.AdamW(groups, lr=lr, fused=True)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 600, batch_size: int = 64,
          lr: float = 5e-3, weight_decay: float = 0.05, warmup: int = 30, shift_prob: float = 0.5,
          seed: int = 0, val: tuple[torch.Tensor, torch.Tensor] | None = None, eval_every: int = 50,
          patience: int = 4, min_steps: int = 200) -> list[float]:
    """Minimise cross-entropy with AdamW, linear warm-up and cosine decay; return the per-step losses.

    A fraction ``shift_prob`` of every batch is jittered by one pixel (``random_shift``); the test
    images are never shifted. With ``val = (x_val, y_val)`` this is early stopping: every
    ``eval_every`` steps the validation accuracy is measured, training stops after ``patience``
    evaluations without a gain (but not before ``min_steps``: the loss sits on a plateau at ln 10 for
    the first few dozen steps), and the model is left at its best validation state. ``steps`` is then
    a ceiling, so each data size trains as long as it keeps improving, not for a fixed budget.
    """
    if x.dim() != 4 or y.shape != (x.shape[0],):
        raise ValueError(f"x, y: expected shapes (N, C, H, W) and (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    check_positive("steps", steps, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    check_positive("eval_every", eval_every, integer=True)
    check_positive("patience", patience, integer=True)
    check_number("shift_prob", shift_prob, low=0, high=1)
    gen = seed_everything(seed)
    dev = device()
    model.to(dev).train()
    x, y = x.to(dev), y.to(dev)
    opt = adamw(model, lr, weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    losses, best, best_state, waited = [], -1.0, None, 0
    for step in range(1, steps + 1):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen).to(dev)
        xb = x[idx]
        jitter = (torch.rand(len(idx), generator=gen) < shift_prob).to(dev)[:, None, None, None]
        xb = torch.where(jitter, random_shift(xb, 1, gen), xb)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
        if val is not None and (step % eval_every == 0 or step == steps):
            score = accuracy(model, *val)
            model.train()
            if score > best:
                best, best_state, waited = score, {k: v.clone() for k, v in model.state_dict().items()}, 0
            else:
                waited += 1
                if waited >= patience and step >= min_steps:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    dev = next(model.parameters()).device
    return (model(x.to(dev)).argmax(-1).cpu() == y).float().mean().item()


@dataclass
class RunResult:
    model: nn.Module
    test_accuracy: float
    losses: list[float] = field(repr=False)


def run(arch: str = "vit", train_fraction: float = 1.0, steps: int = 600, seed: int = 0,
        config: ViTConfig = ViTConfig(), batch_size: int = 64, validation: float = 0.0,
        shift_prob: float = 0.5) -> RunResult:
    """Train a ViT (``arch="vit"``) or the CNN baseline (``arch="cnn"``) on digits; report test accuracy.

    ``validation > 0`` sets that share of the training split aside and trains with early stopping on
    it (``steps`` is then a ceiling); otherwise ``steps`` steps on the whole training split.
    """
    check_choice("arch", arch, ("vit", "cnn"))
    data = digits(train_fraction, seed=seed, validation=validation)
    x_tr, y_tr, x_te, y_te = data[0], data[1], data[-2], data[-1]
    val = (data[2], data[3]) if validation > 0 else None
    seed_everything(seed)   # same initial weights for the same seed
    model = ViT(config) if arch == "vit" else SmallCNN()
    losses = train(model, x_tr, y_tr, steps=steps, batch_size=batch_size, seed=seed, val=val,
                   shift_prob=shift_prob)
    return RunResult(model, accuracy(model, x_te, y_te), losses)


def data_scaling(fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0), seeds: tuple[int, ...] = (0,),
                 steps: int = 600, batch_size: int = 64, validation: float = 0.2,
                 known: dict[tuple[str, float, int], float] | None = None) -> dict[tuple[str, float], list[float]]:
    """Test accuracy of the ViT, the CNN and logistic regression on raw pixels for every training
    fraction and seed: ``{(arch, fraction): [accuracy per seed]}``, arch in "vit", "cnn", "logreg".

    Every network trains to convergence: early stopping on a validation split (``validation`` of the
    training images, the same for every fraction) with ``steps`` as a ceiling, so a curve over data
    sizes compares what the models make of the data, not how long they trained. Logistic regression
    is fitted without the networks' augmentation, which only lowers its score (see
    ``pixel_baseline_accuracy``). ``known`` passes in accuracies already measured with these settings,
    keyed ``(arch, fraction, seed)``.
    """
    known = known or {}
    out: dict[tuple[str, float], list[float]] = {}
    for frac in fractions:
        out["logreg", frac] = [pixel_baseline_accuracy("logreg", frac, seed=s, validation=validation)
                               for s in seeds]
        for arch in ("vit", "cnn"):
            out[arch, frac] = [known[arch, frac, s] if (arch, frac, s) in known
                               else run(arch, frac, steps=steps, seed=s, batch_size=batch_size,
                                        validation=validation).test_accuracy for s in seeds]
    return out
