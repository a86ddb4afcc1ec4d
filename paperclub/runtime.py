"""Helpers that notebooks call while they run.

Under ``paperclub build`` the executor names a run folder (:mod:`paperclub.rundir`): ``record`` adds to its
metrics file and ``savefig`` / ``show_animation`` write into its figures folder. When a member runs the
notebook by hand there is no run folder, and the helpers only print and display.
"""
from __future__ import annotations

import io
import math
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

from paperclub.rundir import RunDir

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIGURE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _to_number(name: str, value: Any) -> int | float | bool:
    """numpy / torch scalars become plain Python numbers; anything that is not a number is refused."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (bool, int, float)):
        try:
            value = value.item()
        except (ValueError, RuntimeError) as err:  # an array of many elements
            raise ValueError(f"record({name!r}): value must be a scalar, got shape "
                             f"{tuple(getattr(value, 'shape', ()))}") from err
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"record({name!r}): value must be finite, got {value}")
        return float(value)
    raise ValueError(f"record({name!r}): value must be a number or a bool, got {type(value).__name__} {value!r}")


def _shown(value: int | float | bool) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def seed() -> int:
    """The seed of this run: 0 for the page's run, 1, 2, … when ``paperclub sweep`` re-runs the notebook.

    Every random source of a notebook (data, initialisation, sampling) should derive from it, so a
    claim can be checked on other seeds; a member running the notebook by hand gets 0.
    """
    return RunDir.seed()


def device() -> str:
    """Where the notebook should put its tensors: ``PAPERCLUB_DEVICE`` when the run sets it (a GPU worker of
    a cluster says ``cuda``), else ``cuda`` when torch sees a GPU, else ``cpu``."""
    import os

    chosen = os.environ.get("PAPERCLUB_DEVICE", "").strip()
    if chosen:
        return chosen
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def record(name: str, value: Any) -> Any:
    """Record a figure that the paper's claims table and ``{{ name }}`` references read.

    Numbers and booleans only; recording the same name twice in one run is an error (the second would
    silently replace the first).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"record(): name must be an identifier like 'test_accuracy', got {name!r}")
    plain = _to_number(name, value)
    run = RunDir.current()
    if run is not None:
        metrics = run.read_metrics()
        if name in metrics:
            raise ValueError(f"record({name!r}): already recorded in this run (value {metrics[name]!r}); "
                             "give each figure its own name")
        metrics[name] = plain
        run.write_metrics(metrics)
    print(f"recorded {name} = {_shown(plain)}")
    return value


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _FIGURE.match(name):
        raise ValueError(f"figure name must be lowercase letters, digits, '-' or '_', got {name!r}")


def savefig(fig: Any, name: str, dpi: int = 150) -> None:
    """Keep a matplotlib figure as ``figures/<name>.png`` for the card and the deck.

    The first figure a notebook saves becomes the paper's thumbnail on the home page.
    """
    _check_name(name)
    run = RunDir.current()
    if run is not None:
        fig.savefig(run.figure_path(f"{name}.png"), dpi=dpi, bbox_inches="tight")


def show_animation(frames: Sequence[Any], name: str, fps: int = 12, width: int | None = None) -> bytes:
    """Save frames (HxWx3 uint8 arrays or a matplotlib FuncAnimation) as ``<name>.gif`` and show it.

    A GIF plays in any browser without scripts, so the page and the deck stay offline. Returns the GIF's
    bytes (end the call with ``;`` in a notebook so they are not printed).
    """
    import numpy as np
    from PIL import Image

    _check_name(name)
    if hasattr(frames, "to_jshtml"):  # matplotlib FuncAnimation
        from matplotlib.animation import PillowWriter

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "a.gif"
            frames.save(out, writer=PillowWriter(fps=fps))
            data = out.read_bytes()
    else:
        images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
        if not images:
            raise ValueError("show_animation(): frames is empty")
        if width is not None:
            h = round(images[0].height * width / images[0].width)
            images = [im.resize((width, h)) for im in images]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
        data = buf.getvalue()
    run = RunDir.current()
    if run is not None:
        run.figure_path(f"{name}.gif").write_bytes(data)
    try:
        from IPython.display import Image as IPImage, display

        display(IPImage(data=data, format="gif"))
    except ImportError:  # plain python run: nothing to show
        pass
    return data
