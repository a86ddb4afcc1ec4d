"""Side by side: MkDocs and Zensical on the same staged tree. Prints, per engine, a full render (engine
cache cold, every page) and a one-file rebuild (one paper's notes edited), as the whole build's wall time
and the site engine's own share. Notebooks are cached first, so neither figure includes a notebook run.

    PYTHONPATH=. .venv/bin/python bench/engines.py                 # a scaffolded 3-paper project
    PYTHONPATH=. .venv/bin/python bench/engines.py --real          # a copy of this repository's site
    PYTHONPATH=. .venv/bin/python bench/engines.py --repeat 3

A figure, not a test: run it on a quiet machine and read the table (no timed tests).
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from paperclub import build as B  # noqa: E402
from paperclub.layout import Project  # noqa: E402

TODAY = dt.date(2026, 11, 23)


def real_copy(dest: Path) -> Path:
    """The repository's inputs (and its notebook cache, so nothing re-runs) in a scratch folder."""
    dest.mkdir(parents=True)
    for name in ("papers", "notebooks", "minimal_impls", "slides", "docs", "tests"):
        shutil.copytree(ROOT / name, dest / name)
    for name in ("mkdocs.yml", "pyproject.toml", "package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, dest / name)
    (dest / "node_modules").symlink_to((ROOT / "node_modules").resolve(), target_is_directory=True)
    if (ROOT / "build" / "cache").is_dir():
        shutil.copytree(ROOT / "build" / "cache", dest / "build" / "cache", symlinks=True)
    return dest


def measure(root: Path, engine: str, repeat: int, slug: str) -> dict[str, list[float]]:
    project, cache = Project(root), root / "build" / "cache"
    engine_s: list[float] = []
    render = B.render_site

    def timed_render(*a, **kw):
        t = time.monotonic()
        render(*a, **kw)
        engine_s.append(time.monotonic() - t)

    B.render_site = timed_render
    out: dict[str, list[float]] = {k: [] for k in ("full", "full engine", "one file", "one file engine")}
    try:
        for i in range(repeat):
            site = root / f"site-{engine}-{i}"
            shutil.rmtree(B.zensical_dir(project), ignore_errors=True)      # Zensical's cache, cold
            t = time.monotonic()
            B.build(project, site, cache, today=TODAY, log=lambda _: None, engine=engine)
            out["full"].append(time.monotonic() - t)
            out["full engine"].append(engine_s[-1])
            notes = root / "papers" / f"{slug}.md"
            notes.write_text(notes.read_text(encoding="utf-8") + f"\nEdited for the bench ({engine}, {i}).\n",
                             encoding="utf-8")
            t = time.monotonic()
            B.build(project, site, cache, today=TODAY, log=lambda _: None, engine=engine)
            out["one file"].append(time.monotonic() - t)
            out["one file engine"].append(engine_s[-1])
    finally:
        B.render_site = render
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", action="store_true", help="bench a copy of this repository instead of a scaffold")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="paperclub-engines-") as tmp:
        if args.real:
            root, slug = real_copy(Path(tmp) / "proj"), "vae"
        else:
            from conftest import make_project

            root, slug = make_project(Path(tmp) / "proj", ["alpha", "beta", "gamma"]), "alpha"
        # execute the notebooks once (cached), so the figures below are rendering only
        B.build(Project(root), root / "site-warmup", root / "build" / "cache", today=TODAY, log=lambda _: None)
        rows = {e: measure(root, e, args.repeat, slug) for e in B.ENGINES}
    med = {e: {k: statistics.median(v) for k, v in m.items()} for e, m in rows.items()}
    print(f"{'real site' if args.real else 'scaffolded 3-paper project'}, median of {args.repeat}, wall seconds")
    print(f"| what | {' | '.join(B.ENGINES)} | zensical / mkdocs |")
    print("| --- | ---: | ---: | ---: |")
    for k in ("full", "full engine", "one file", "one file engine"):
        a, b = med["mkdocs"][k], med["zensical"][k]
        print(f"| {k} | {a:.1f} | {b:.1f} | {b / a:.2f}× |")


if __name__ == "__main__":
    main()
