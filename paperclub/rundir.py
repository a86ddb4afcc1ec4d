"""The contract between the executor and a running notebook: where a run writes what.

The executor creates a run folder and names it in one environment variable; inside the notebook,
``paperclub.record`` and ``paperclub.savefig`` write into it; afterwards the executor and the renderer
read it. Both sides import this module, so the names below are the only copy. Standard library only:
notebooks import it, and they stay light.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

ENV = "PAPERCLUB_RUN_DIR"
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SEED_ENV = "PAPERCLUB_SEED"   # the run's seed: 0 for the page's run, 1…N-1 for a sweep's re-runs


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def metrics_file(self) -> Path: return self.path / "metrics.json"
    @property
    def figures_dir(self) -> Path: return self.path / "figures"
    @property
    def order_file(self) -> Path: return self.figures_dir / "_order.txt"
    @property
    def notebook(self) -> Path: return self.path / "notebook.ipynb"
    @property
    def meta_file(self) -> Path: return self.path / "meta.json"
    @property
    def error_file(self) -> Path: return self.path / "error.txt"
    @property
    def cpu_file(self) -> Path: return self.path / "cpu_seconds.txt"

    # ------------------------------------------------------------------ the process boundary
    def env(self, seed: int = 0) -> dict[str, str]:
        """What the executor adds to the kernel's environment."""
        return {ENV: str(self.path), SEED_ENV: str(int(seed))}

    @classmethod
    def current(cls, environ: Mapping[str, str] | None = None) -> "RunDir | None":
        """The run folder of this notebook run, or None when a member runs it by hand."""
        target = (os.environ if environ is None else environ).get(ENV)
        return cls(Path(target)) if target else None

    # ------------------------------------------------------------------ notebook side
    @staticmethod
    def seed(environ: Mapping[str, str] | None = None) -> int:
        """This run's seed (0 when a member runs the notebook by hand)."""
        raw = (os.environ if environ is None else environ).get(SEED_ENV, "0").strip() or "0"
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{SEED_ENV}: expected a whole number, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"{SEED_ENV}: expected a seed >= 0, got {value}")
        return value

    def read_metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_file.read_text(encoding="utf-8")) if self.metrics_file.exists() else {}

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.metrics_file.write_text(json.dumps(dict(metrics), indent=2, sort_keys=True), encoding="utf-8")

    def figure_path(self, filename: str) -> Path:
        """Where a saved figure goes; the order file remembers which came first (the card's thumbnail)."""
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        with open(self.order_file, "a", encoding="utf-8") as fh:
            fh.write(filename + "\n")
        return self.figures_dir / filename

    # ------------------------------------------------------------------ executor side
    def figures(self) -> list[Path]:
        """Saved figures in the order the notebook saved them (each once)."""
        names = self.order_file.read_text(encoding="utf-8").split() if self.order_file.exists() else []
        seen: list[Path] = []
        for n in names:
            # only a plain file name inside figures/ (the order file is written by the notebook: a path such
            # as ../../etc/passwd or a symbolic link out of the folder would ship another file)
            if not _PLAIN.match(n):
                continue
            p = self.figures_dir / n
            if p.is_file() and not p.is_symlink() and p not in seen:
                seen.append(p)
        return seen
