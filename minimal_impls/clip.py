"""CLIP: contrastive language–image pre-training, a minimal reference on rendered shapes.

Radford, Kim, Hallacy, Ramesh, Goh, Agarwal, Sastry, Askell, Mishkin, Clark, Krueger, Sutskever.
"Learning Transferable Visual Models From Natural Language Supervision." ICML 2021.
https://arxiv.org/abs/2103.00020

The idea in one line: train an image encoder and a text encoder so that, within a batch of N
(image, caption) pairs, each image's embedding is closest to its own caption's and vice versa; then
any sentence is a classifier ("a photo of a {class}") with no labelled training data.

What this toy keeps (the paper numbers no equations; we cite Fig. 3's pseudocode and sections):
  * an image encoder that is a Vision Transformer (``minimal_impls.vit``): the representation is
    LN of the final [class] state                                                          (Sec. 2.4)
  * a text Transformer with a causal mask over [SOS] caption [EOS]; the text feature is the top
    layer's activation at [EOS], layer-normalised                                          (Sec. 2.4)
  * linear projections W_i, W_t (no bias, no non-linearity) into a joint space, L2 norm  (Sec. 2.3, Fig. 3)
  * cosine-similarity logits times a learned scale exp(t): log-parameterised, initialised to
    1/0.07 and clipped at 100, by clamping t after each optimiser step                 (Secs. 2.3, 2.5)
  * the symmetric cross-entropy over the N×N similarity matrix                              (Fig. 3)
  * Fig. 2's bag-of-words baseline: the same image encoder trained to predict the caption's words
  * the number of negatives as a knob (the loss applied within blocks of a batch)
  * zero-shot classification by prompts, and prompt ensembling in embedding space  (Secs. 3.1.2, 3.1.4)
  * a few-shot linear probe (logistic regression) on frozen image features vs. zero-shot    (Fig. 6)
  * a toy distribution shift (shapes drawn as outlines or striped) for robustness   (Sec. 3.3, Figs. 13–14)

What it drops:
  * scale: 16×16 images of five shapes in five colours with template captions, 4,000 pairs and a
    27-token word-level vocabulary, instead of 400 M web pairs, a 49,152-token BPE and batches of 32,768
  * the ResNet image encoders, the extra LayerNorm CLIP's ViT puts before the encoder, and the
    63 M-parameter text model (ours: two blocks of width 64)
  * random-crop augmentation, mixed precision and the sharded computation of the similarity matrix
  * Fig. 2's caption language model (only the bag-of-words baseline is here)
  * a held-out *pair* stands in for a new concept: the toy tests composition of known words, not the
    open-ended vocabulary that web captions give the paper
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls import vit
from minimal_impls.common import check_arg, check_choice, check_number, check_positive, check_shape, device, seed_everything


# ----------------------------------------------------------------------------------------------------
# Data: rendered shapes with template captions (a stand-in for web image–text pairs)
# ----------------------------------------------------------------------------------------------------

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.1, 0.1), "green": (0.1, 0.75, 0.15), "blue": (0.15, 0.3, 0.95),
    "yellow": (0.95, 0.85, 0.1), "purple": (0.6, 0.15, 0.8),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "diamond")
SIZES: tuple[str, ...] = ("small", "large")
PLACES: dict[str, str] = {"left": "on the left", "right": "on the right",
                          "top": "at the top", "bottom": "at the bottom"}
# The held-out (colour, shape) pairs: each colour and each shape is held out exactly once, so every word
# is seen in training but these five combinations never are, in any image or caption.
HELD_OUT: tuple[tuple[str, str], ...] = tuple(zip(COLOURS, SHAPES))

# Caption templates: like web alt-text, captions vary in wording and often omit attributes.
TEMPLATES: tuple[str, ...] = (
    "a {size} {colour} {shape} {place}",
    "a {colour} {shape} {place}",
    "a photo of a {size} {colour} {shape}",
    "there is a {colour} {shape} {place}",
    "{place} there is a {size} {colour} {shape}",
)

IMAGE_SIZE = 16


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    size: str
    place: str

    def __post_init__(self) -> None:
        for name, value, allowed in (("colour", self.colour, tuple(COLOURS)), ("shape", self.shape, SHAPES),
                                     ("size", self.size, SIZES), ("place", self.place, tuple(PLACES))):
            check_choice(name, value, allowed)

    def caption(self, template: str = TEMPLATES[0]) -> str:
        return template.format(colour=self.colour, shape=self.shape, size=self.size, place=PLACES[self.place])


POOLS = ("train", "held_out", "all")


def all_scenes(pool: str = "all") -> list[Scene]:
    """Every attribute combination (200) in ``pool``: "train" (160, no held-out pair), "held_out" (40)
    or "all"."""
    check_choice("pool", pool, POOLS)
    every = [Scene(*attrs) for attrs in itertools.product(COLOURS, SHAPES, SIZES, PLACES)]
    if pool == "all":
        return every
    return [sc for sc in every if ((sc.colour, sc.shape) in HELD_OUT) == (pool == "held_out")]


# Is the point (x, y), measured in radii from the centre (y pointing down), inside the shape?
_INSIDE = {
    "circle": lambda x, y: x ** 2 + y ** 2 <= 1.0,
    "square": lambda x, y: np.maximum(abs(x), abs(y)) <= 0.85,
    "triangle": lambda x, y: (y <= 0.8) & (abs(x) <= (y + 1.1) / 1.9 * 1.05),     # apex up
    "cross": lambda x, y: ((abs(x) <= 0.32) & (abs(y) <= 1.0)) | ((abs(y) <= 0.32) & (abs(x) <= 1.0)),
    "diamond": lambda x, y: abs(x) + abs(y) <= 1.1,
}


STYLES = ("filled", "outline", "striped")


def render(scenes: list[Scene], rng: np.random.Generator, supersample: int = 4, style: str = "filled") -> torch.Tensor:
    """Draw each scene as a (3, 16, 16) image in [0, 1]: anti-aliased shape, jittered, with pixel noise.

    Vectorised over images: each kind of shape is tested on a 4× supersampled grid for all the images
    that show it at once, and average pooling back to 16×16 gives the anti-aliasing.

    ``style`` is a distribution shift for robustness tests (Sec. 3.3): training data are always
    ``"filled"``; ``"outline"`` draws only the shape's rim (a sketch, like ImageNet-Sketch), ``"striped"``
    dims every other pixel row inside it (a new texture).
    """
    check_choice("style", style, STYLES)
    n, s = len(scenes), IMAGE_SIZE * supersample
    centre = {"left": (8.0, 4.5), "right": (8.0, 11.5), "top": (4.5, 8.0), "bottom": (11.5, 8.0)}
    cy, cx = np.array([centre[sc.place] for sc in scenes]).T + rng.uniform(-0.75, 0.75, (2, n))
    radius = np.array([2.6 if sc.size == "small" else 4.0 for sc in scenes]) * rng.uniform(0.92, 1.08, n)
    grid = (np.arange(s) + 0.5) / supersample
    # pixel coordinates relative to each shape's centre, in units of its radius
    dy = ((grid[None, :, None] - cy[:, None, None]) / radius[:, None, None]).astype(np.float32)   # (n, s, 1)
    dx = ((grid[None, None, :] - cx[:, None, None]) / radius[:, None, None]).astype(np.float32)   # (n, 1, s)
    which = np.array([sc.shape for sc in scenes])
    mask = np.zeros((n, s, s), dtype=np.float32)
    # the rim of an outline: the shape minus a copy shrunk so that about one pixel of edge is left
    shrink = (1.0 - 1.3 / radius)[:, None, None].astype(np.float32)
    for shape, inside in _INSIDE.items():      # one vectorised test per kind of shape
        sel = which == shape
        mask[sel] = inside(dx[sel], dy[sel])
        if style == "outline":
            mask[sel] *= ~inside(dx[sel] / shrink[sel], dy[sel] / shrink[sel])
    mask = mask.reshape(n, IMAGE_SIZE, supersample, IMAGE_SIZE, supersample).mean(axis=(2, 4))
    if style == "striped":
        mask[:, 1::2] *= 0.15
    colour = np.array([COLOURS[sc.colour] for sc in scenes]) + rng.normal(0, 0.05, (n, 3))
    images = mask[:, None] * colour[:, :, None, None] + rng.normal(0, 0.03, (n, 3, IMAGE_SIZE, IMAGE_SIZE))
    return torch.from_numpy(np.clip(images, 0.0, 1.0).astype(np.float32))


# ----------------------------------------------------------------------------------------------------
# A word-level tokenizer: [SOS] words [EOS] [PAD]… (the paper uses a 49,152-token lower-cased BPE)
# ----------------------------------------------------------------------------------------------------

PAD, SOS, EOS = 0, 1, 2
_WORDS = sorted({w for t in TEMPLATES for w in t.split() if not w.startswith("{")}
                | {w for phrase in PLACES.values() for w in phrase.split()}
                | set(COLOURS) | set(SHAPES) | set(SIZES))
VOCAB: tuple[str, ...] = ("[PAD]", "[SOS]", "[EOS]", *_WORDS)
CONTEXT = 12   # longest caption is 9 words + [SOS] + [EOS]


def tokenize(captions: list[str], context: int = CONTEXT) -> torch.Tensor:
    """Captions → (B, context) token ids; unknown words and over-long captions are errors, not [UNK]s."""
    index = {w: i for i, w in enumerate(VOCAB)}
    out = torch.full((len(captions), context), PAD, dtype=torch.long)
    for row, caption in enumerate(captions):
        words = caption.lower().split()
        unknown = [w for w in words if w not in index]
        if unknown:
            raise ValueError(f"captions: expected words from the {len(VOCAB)}-word vocabulary, got {unknown[0]!r}")
        if len(words) + 2 > context:
            raise ValueError(f"captions: expected at most {context - 2} words, got {len(words)} in {caption!r}")
        out[row, : len(words) + 2] = torch.tensor([SOS, *(index[w] for w in words), EOS])
    return out


# ----------------------------------------------------------------------------------------------------
# The two encoders (Sec. 2.4)
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CLIPConfig:
    image: vit.ViTConfig = vit.ViTConfig(image_size=IMAGE_SIZE, patch_size=4, channels=3, dim=64, depth=2,
                                         heads=4, mlp_dim=128, num_classes=0)
    text_dim: int = 64
    text_depth: int = 2
    text_heads: int = 4
    embed_dim: int = 32          # the joint multi-modal space
    init_temperature: float = 0.07

    def __post_init__(self) -> None:
        check_arg(self.image.num_classes == 0, "image.num_classes",
                  "0 (CLIP uses the representation, not a head)", self.image.num_classes)
        check_number("init_temperature", self.init_temperature, low=0.01, high=1.0)


class TextTransformer(nn.Module):
    """Token + learned position embeddings, causal pre-norm blocks, LN; the feature is the [EOS] state.

    The causal mask (Sec. 2.4: "masked self-attention") means [EOS], the last real token, is the only
    position that has read the whole caption, and that padding after it can never leak in.
    """

    def __init__(self, dim: int, depth: int, heads: int, context: int = CONTEXT) -> None:
        super().__init__()
        self.context = context
        self.token_embed = nn.Embedding(len(VOCAB), dim)
        self.pos_embed = nn.Parameter(torch.randn(context, dim) * 0.01)
        self.blocks = nn.ModuleList(vit.Block(dim, heads, 2 * dim, causal=True) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_shape("tokens", tokens, (None, self.context))
        is_eos = tokens == EOS
        if not is_eos.any(dim=1).all():
            raise ValueError("tokens: expected an [EOS] token in every row, got a row without one")
        z = self.token_embed(tokens) + self.pos_embed
        for block in self.blocks:
            z = block(z)
        eos = is_eos.int().argmax(dim=1)                       # the first [EOS] of each row
        return self.norm(z[torch.arange(len(tokens), device=z.device), eos])


MAX_LOGIT_SCALE = 100.0


class CLIP(nn.Module):
    def __init__(self, config: CLIPConfig = CLIPConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.image_encoder = vit.ViT(c.image)
        self.text_encoder = TextTransformer(c.text_dim, c.text_depth, c.text_heads)
        # Sec. 2.3: "only a linear projection to map from each encoder's representation to the
        # multi-modal embedding space"; no bias, no non-linear projection head as in SimCLR.
        self.W_i = nn.Linear(c.image.dim, c.embed_dim, bias=False)
        self.W_t = nn.Linear(c.text_dim, c.embed_dim, bias=False)
        # Sec. 2.3: the temperature τ is "directly optimized during training as a log-parameterized
        # multiplicative scalar"; Sec. 2.5: initialised to the equivalent of τ = 0.07
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))

    def logit_scale(self) -> torch.Tensor:
        """exp(t) of Fig. 3. No clamp here: see ``clamp_logit_scale_``."""
        return self.log_scale.exp()

    @torch.no_grad()
    def clamp_logit_scale_(self) -> None:
        """Sec. 2.5: the scale is "clipped to prevent scaling the logits by more than 100".

        Called after every optimiser step, as the reference training code does (OpenCLIP clamps
        the parameter to [0, log 100] in place). Clamping inside the forward pass instead would
        look equivalent but is not: above log 100 the clamp's gradient is exactly 0, so a parameter
        that one Adam step pushed past the boundary could never be pulled back by the loss.
        """
        self.log_scale.clamp_(0.0, math.log(MAX_LOGIT_SCALE))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """I_e = l2_normalize(I_f · W_i), shape (N, embed_dim)."""
        return F.normalize(self.W_i(self.image_encoder.features(images)), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """T_e = l2_normalize(T_f · W_t), shape (N, embed_dim)."""
        return F.normalize(self.W_t(self.text_encoder(tokens)), dim=-1)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The N×N logits of Fig. 3: scaled cosine similarity of every image with every caption."""
        return self.logit_scale() * self.encode_image(images) @ self.encode_text(tokens).T

    def loss(self, images: torch.Tensor, tokens: torch.Tensor, group: int | None = None) -> torch.Tensor:
        """The training objective of Fig. 3 on a batch of pairs (see ``clip_loss``)."""
        return clip_loss(self.encode_image(images), self.encode_text(tokens), self.logit_scale(), group)

    @torch.no_grad()
    def scores(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """How well each caption fits each image, (n_images, n_captions): the cosine similarity."""
        return self.encode_image(images) @ self.encode_text(tokens).T


# ----------------------------------------------------------------------------------------------------
# Fig. 3: the symmetric contrastive loss
# ----------------------------------------------------------------------------------------------------

def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
              group: int | None = None) -> torch.Tensor:
    """Symmetric cross-entropy over the N×N similarity matrix; the diagonal holds the true pairs.

    Row i asks "which of the N captions is image i's?", column j asks "which image is caption j's?";
    the loss averages both. Embeddings must already be L2-normalised.

    ``group=g`` cuts the batch into N/g blocks and contrasts each pair only with the g − 1 others in
    its block: the same pairs and the same gradient steps, but fewer negatives. It is how we vary
    the number of negatives without changing how many images the model sees.
    """
    if image_emb.dim() != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"image_emb, text_emb: expected two (N, D) tensors of the same shape, "
                         f"got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    n = image_emb.shape[0]
    check_arg(n >= 2, "batch", "at least 2 pairs (a contrastive loss needs negatives)", n)
    g = n if group is None else group
    check_arg(isinstance(g, int) and 2 <= g <= n and n % g == 0, "group", f"a divisor of the batch size {n}, >= 2", g)
    img, txt = image_emb.reshape(n // g, g, -1), text_emb.reshape(n // g, g, -1)
    logits = logit_scale * img @ txt.transpose(1, 2)               # (blocks, g, g)
    labels = torch.arange(g, device=logits.device).repeat(n // g)
    loss_i = F.cross_entropy(logits.flatten(0, 1), labels)                   # each image against the captions
    loss_t = F.cross_entropy(logits.transpose(1, 2).flatten(0, 1), labels)   # each caption against the images
    return (loss_i + loss_t) / 2


# ----------------------------------------------------------------------------------------------------
# Fig. 2's baseline: predict the caption's words instead of matching the caption
# ----------------------------------------------------------------------------------------------------

def bag_of_words(tokens: torch.Tensor) -> torch.Tensor:
    """(B, context) token ids → (B, |V|) word frequencies of each caption, [PAD]/[SOS]/[EOS] left out."""
    counts = F.one_hot(tokens, len(VOCAB)).sum(dim=1).float()
    counts[:, [PAD, SOS, EOS]] = 0.0
    return counts / counts.sum(dim=1, keepdim=True).clamp(min=1.0)


class BagOfWords(nn.Module):
    """The predictive baseline of Fig. 2: the same image encoder, then a linear map to the vocabulary,
    trained to predict the caption's bag of words (softmax cross-entropy against word frequencies).

    It has no text encoder: a caption is scored by the mean log-probability of its words, which is
    how we use it zero-shot (Sec. 2.3 describes the baseline; this scoring rule is ours).
    """

    def __init__(self, config: CLIPConfig = CLIPConfig()) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = vit.ViT(config.image)
        self.head = nn.Linear(config.image.dim, len(VOCAB))

    def word_log_probs(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.image_encoder.features(images)).log_softmax(dim=-1)

    def loss(self, images: torch.Tensor, tokens: torch.Tensor, group: int | None = None) -> torch.Tensor:
        check_arg(group is None, "group", "None (the bag-of-words objective has no negatives)", group)
        return -(bag_of_words(tokens) * self.word_log_probs(images)).sum(dim=-1).mean()

    @torch.no_grad()
    def scores(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(n_images, n_captions): mean log-probability of each caption's words given each image."""
        return self.word_log_probs(images) @ bag_of_words(tokens).T


# ----------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------

@dataclass
class Dataset:
    """Rendered images, their scenes, and every template's tokenised caption for each image."""
    images: torch.Tensor            # (N, 3, 16, 16)
    scenes: list[Scene]
    tokens: torch.Tensor            # (len(TEMPLATES), N, CONTEXT)


def make_dataset(n: int, pool: str = "train", seed: int = 0, style: str = "filled") -> Dataset:
    """``n`` scenes drawn uniformly from ``pool`` (see ``all_scenes``), rendered in ``style`` and captioned."""
    check_number("n", n, low=2, integer=True)
    rng = np.random.default_rng(seed)
    choices = all_scenes(pool)
    scenes = [choices[i] for i in rng.integers(len(choices), size=n)]
    tokens = torch.stack([tokenize([s.caption(t) for s in scenes]) for t in TEMPLATES])
    return Dataset(render(scenes, rng, style=style), scenes, tokens)


def train(model: CLIP | BagOfWords, data: Dataset, steps: int = 500, batch_size: int = 64, lr: float = 2e-3,
          weight_decay: float = 0.1, warmup: int = 30, seed: int = 0, group: int | None = None,
          eval_data: Dataset | None = None, eval_every: int = 50) -> dict[str, list[float]]:
    """AdamW + warm-up + cosine decay on the model's objective; each step draws a batch of images and
    gives every image a caption in a randomly chosen template.

    Returns per-step loss and logit scale and, when ``eval_data`` is given, the zero-shot accuracy
    (one prompt) on it every ``eval_every`` steps: the learning curves of Fig. 2.
    ``group`` limits the number of negatives (see ``clip_loss``).
    """
    check_positive("steps", steps, integer=True)
    check_number("batch_size", batch_size, low=2, high=len(data.images), integer=True)
    check_positive("eval_every", eval_every, integer=True)
    gen = seed_everything(seed)
    dev = device()
    model.to(dev).train()
    images, tokens = data.images.to(dev), data.tokens.to(dev)
    opt = vit.adamw(model, lr, weight_decay)   # no decay on biases, gains or the temperature
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    history: dict[str, list[float]] = {"loss": [], "logit_scale": [], "eval_step": [], "eval_accuracy": []}
    for step in range(1, steps + 1):
        # sampling without replacement inside a batch: a repeated image would be its own false negative
        idx = torch.randperm(len(images), generator=gen)[:batch_size].to(dev)
        template = torch.randint(len(TEMPLATES), (batch_size,), generator=gen).to(dev)
        loss = model.loss(images[idx], tokens[template, idx], group)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if isinstance(model, CLIP):
            model.clamp_logit_scale_()   # after the step, on the parameter itself (Sec. 2.5)
            history["logit_scale"].append(model.logit_scale().item())
        schedule.step()
        history["loss"].append(loss.item())
        if eval_data is not None and step % eval_every == 0:
            history["eval_step"].append(step)
            history["eval_accuracy"].append(zero_shot_accuracy(model, eval_data))
            model.train()
    return history


@dataclass
class RunResult:
    model: CLIP | BagOfWords
    history: dict[str, list[float]] = field(repr=False)


def run(n_train: int = 4000, steps: int = 500, batch_size: int = 64, seed: int = 0,
        config: CLIPConfig = CLIPConfig(), objective: str = "contrastive", group: int | None = None,
        eval_data: Dataset | None = None, eval_every: int = 50) -> RunResult:
    """Render a training set without the held-out pairs and train CLIP (``objective="contrastive"``)
    or the bag-of-words baseline (``objective="bag_of_words"``) on it, same encoder, same budget."""
    check_choice("objective", objective, ("contrastive", "bag_of_words"))
    data = make_dataset(n_train, pool="train", seed=seed)
    seed_everything(seed)
    model = CLIP(config) if objective == "contrastive" else BagOfWords(config)
    return RunResult(model, train(model, data, steps=steps, batch_size=batch_size, seed=seed, group=group,
                                  eval_data=eval_data, eval_every=eval_every))


# ----------------------------------------------------------------------------------------------------
# Using the model: zero-shot classification (Sec. 3.1), retrieval, linear probe (Sec. 3.2, Fig. 6)
# ----------------------------------------------------------------------------------------------------

PROMPT = "a photo of a {colour} {shape}"
# Sec. 3.1.4 ensembles 80 prompts. Ours are every training template with the nuisance attributes
# (size, place) spelled out in every way (26 distinct prompts): averaging their embeddings marginalises
# size and place out of the class embedding, which is what "a photo of a {colour} {shape}" leaves to chance.
ENSEMBLE: tuple[str, ...] = tuple(sorted({
    t.format(colour="{colour}", shape="{shape}", size=size, place=PLACES[place])
    for t in TEMPLATES for size in SIZES for place in PLACES}))
CLASSES: tuple[tuple[str, str], ...] = tuple(itertools.product(COLOURS, SHAPES))


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def class_embeddings(model: CLIP, templates: tuple[str, ...] | list[str] = (PROMPT,),
                     classes: tuple[tuple[str, str], ...] = CLASSES) -> torch.Tensor:
    """Zero-shot classifier weights, (K, embed_dim): per class, the normalised mean of its prompts'
    normalised text embeddings (the embedding-space ensemble of Sec. 3.1.4)."""
    check_arg(len(templates) > 0, "templates", "at least one prompt template", templates)
    model.eval()
    captions = [t.format(colour=c, shape=s) for c, s in classes for t in templates]
    emb = model.encode_text(tokenize(captions).to(_model_device(model)))
    return F.normalize(emb.reshape(len(classes), len(templates), -1).mean(dim=1), dim=-1)


@torch.no_grad()
def encode_images(model: CLIP, images: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model.encode_image(images.to(_model_device(model)))


@torch.no_grad()
def zero_shot_predict(model: CLIP | BagOfWords, images: torch.Tensor,
                      templates: tuple[str, ...] | list[str] = (PROMPT,)) -> torch.Tensor:
    """The index into ``CLASSES`` of each image's best-fitting prompt (CLIP: ensembled in embedding
    space, Sec. 3.1.4; the bag-of-words baseline: mean caption score over the templates)."""
    images = images.to(_model_device(model))
    if isinstance(model, CLIP):
        return (encode_images(model, images) @ class_embeddings(model, templates).T).argmax(dim=1).cpu()
    model.eval()
    captions = [t.format(colour=c, shape=s) for c, s in CLASSES for t in templates]
    scores = model.scores(images, tokenize(captions).to(images.device))
    return scores.reshape(len(images), len(CLASSES), len(templates)).mean(dim=2).argmax(dim=1).cpu()


def class_labels(scenes: list[Scene]) -> torch.Tensor:
    return torch.tensor([CLASSES.index((s.colour, s.shape)) for s in scenes])


def zero_shot_accuracy(model: CLIP | BagOfWords, data: Dataset,
                       templates: tuple[str, ...] | list[str] = (PROMPT,)) -> float:
    """Classify every image among all 25 (colour, shape) classes by its best-fitting prompt."""
    return (zero_shot_predict(model, data.images, templates) == class_labels(data.scenes)).float().mean().item()


def distinct_scenes(data: Dataset) -> int:
    """How many different (colour, shape, size, place) scenes stand behind the images of ``data``:
    the number that bounds how much a test figure can say, whatever the number of images."""
    return len(set(data.scenes))


@torch.no_grad()
def retrieve(model: CLIP, images: torch.Tensor, captions: list[str], k: int = 1) -> torch.Tensor:
    """Text → image: for each caption, the indices of its ``k`` most similar images, shape (len(captions), k)."""
    check_number("k", k, low=1, high=len(images), integer=True)
    text = model.eval().encode_text(tokenize(captions).to(_model_device(model)))
    return (text @ encode_images(model, images).T).topk(k, dim=1).indices.cpu()


def retrieval_recall_at_1(model: CLIP, images: torch.Tensor, captions: list[str],
                          queries: torch.Tensor | None = None) -> float:
    """The fraction of captions (all, or the indices in ``queries``) whose most similar image, among
    *all* ``images``, is their own: caption i describes image i."""
    check_arg(len(captions) == len(images), "captions", f"one per image ({len(images)})", len(captions))
    hits = retrieve(model, images, captions, k=1)[:, 0] == torch.arange(len(captions))
    return hits[queries if queries is not None else slice(None)].float().mean().item()


def gallery(seed: int = 0) -> tuple[torch.Tensor, list[Scene]]:
    """One rendered image of each of the 200 scenes: a retrieval gallery whose full captions are unique."""
    scenes = all_scenes("all")
    return render(scenes, np.random.default_rng(seed)), scenes


def fit_linear_probe(model: CLIP | BagOfWords, shots: int, seed: int = 0):
    """Logistic regression on frozen image features (the encoder's y, before W_i), fitted on ``shots``
    freshly rendered labelled images of each of the 25 (colour, shape) classes, in the training style.

    Unlike zero-shot, the probe sees labelled examples of the held-out pairs. Returns the fitted
    scikit-learn classifier; ``probe_accuracy`` scores it.
    """
    import warnings

    from sklearn.linear_model import LogisticRegression

    check_positive("shots", shots, integer=True)
    rng = np.random.default_rng(seed)
    scenes = [Scene(c, s, SIZES[rng.integers(len(SIZES))], list(PLACES)[rng.integers(len(PLACES))])
              for c, s in CLASSES for _ in range(shots)]
    labels = np.repeat(np.arange(len(CLASSES)), shots)
    with torch.no_grad():
        features = model.eval().image_encoder.features(render(scenes, rng).to(_model_device(model))).cpu().numpy()
    with warnings.catch_warnings():   # 1-shot: sklearn warns that 25 classes in 25 samples looks like regression
        warnings.simplefilter("ignore", UserWarning)
        return LogisticRegression(max_iter=2000, C=1.0).fit(features, labels)


def probe_accuracy(probe, model: CLIP | BagOfWords, test: Dataset) -> float:
    """Accuracy of a ``fit_linear_probe`` classifier on ``test``, among all 25 classes."""
    with torch.no_grad():
        features = model.eval().image_encoder.features(test.images.to(_model_device(model))).cpu().numpy()
    return float((probe.predict(features) == class_labels(test.scenes).numpy()).mean())


def linear_probe_accuracy(model: CLIP | BagOfWords, test: Dataset, shots: int, seed: int = 0) -> float:
    """A ``shots``-per-class linear probe on frozen features (Sec. 3.1.5, Fig. 6), scored on ``test``."""
    return probe_accuracy(fit_linear_probe(model, shots, seed), model, test)
