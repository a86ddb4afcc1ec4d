"""The privacy check of "Minimalist Vision with Freeform Pixels" (Klotz & Nayar, ECCV 2024).

The abstract argues that a few freeform readings are too little to recover visual detail. This file
is the attacker that tests it on our toy (`minimal_impls.freeform_pixels`): a decoder trained on
scenes paired with a camera's readings, scored on unseen scenes. It is an evaluation tool, not the
paper's method, which is why it lives beside the camera rather than in it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from minimal_impls.common import check_shape, device, seed_everything


@dataclass
class Reconstruction:
    decoder: nn.Module
    images: torch.Tensor     # reconstructions of the test scenes, (N, H, W)
    mse: float               # per-pixel mean squared error on the test scenes
    person_mse: float        # the same error on the ``focus`` pixels (where the people are)


@torch.no_grad()
def camera_readings(model: nn.Module, scenes: torch.Tensor, seed: int = 4321) -> torch.Tensor:
    """What the camera sends for each scene (with sensor noise): (N, K·T), on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    torch.manual_seed(seed)
    return torch.cat([model.readings(x.to(dev)).flatten(1) for x in scenes.split(1024)]).cpu()


def train_decoder(r_train: torch.Tensor, x_train: torch.Tensor, r_test: torch.Tensor,
                  x_test: torch.Tensor, focus: torch.Tensor | None = None, epochs: int = 20,
                  hidden: int = 256, seed: int = 0) -> Reconstruction:
    """Fit an attacker: an MLP from readings (N, D) to the scene (N, H, W), trained with MSE on
    the training scenes, and score it on unseen scenes. ``focus`` (N, H, W, bool) marks the pixels
    that matter for privacy (where the people are); the error there is ``person_mse``.

    This attacker is strong: it has thousands of scenes paired with the camera's readings, which
    an eavesdropper on the wireless link would not.
    """
    check_shape("x_train", x_train, (r_train.shape[0], None, None))
    check_shape("x_test", x_test, (r_test.shape[0],) + tuple(x_train.shape[1:]))
    if focus is not None:
        check_shape("focus", focus, tuple(x_test.shape))
    if r_test.shape[1] != r_train.shape[1]:
        raise ValueError(f"r_test: expected {r_train.shape[1]} readings per scene like r_train, "
                         f"got {r_test.shape[1]}")
    gen = seed_everything(seed)
    dev = device()
    h, w = x_train.shape[1:]
    decoder = nn.Sequential(nn.BatchNorm1d(r_train.shape[1]), nn.Linear(r_train.shape[1], hidden),
                            nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                            nn.Linear(hidden, h * w)).to(dev)
    opt = torch.optim.Adam(decoder.parameters(), lr=2e-3)
    for _ in range(epochs):
        decoder.train()
        for idx in torch.randperm(len(r_train), generator=gen).split(128):
            if len(idx) < 2:
                continue
            loss = F.mse_loss(decoder(r_train[idx].to(dev)), x_train[idx].flatten(1).to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    decoder.eval()
    with torch.no_grad():
        rec = decoder(r_test.to(dev)).cpu().reshape(-1, h, w)
    err = (rec - x_test) ** 2
    person = err.mean().item() if focus is None else (err * focus).sum().item() / max(focus.sum().item(), 1)
    return Reconstruction(decoder, rec, err.mean().item(), person)
