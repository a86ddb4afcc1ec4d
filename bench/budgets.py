"""Measure the project's budgets (``BUDGETS`` below, shown on docs/performance.md) on this machine and print them as a Markdown table.

    python bench/budgets.py [--repeat 3] [--quick]

Everything runs in a temporary copy of the project, so the working tree and its build cache are never
touched. Figures are medians over ``--repeat`` runs; ``--quick`` runs one paper once (for the tests).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paperclub.audit import page_weights  # noqa: E402
from paperclub.build import build  # noqa: E402
from paperclub.execute import execute_all  # noqa: E402
from paperclub.papers import load_papers  # noqa: E402
from paperclub.layout import Project  # noqa: E402

BUDGETS = {"notebook": 60.0, "cold": 360.0, "warm": 15.0, "tests": 600.0, "page": 2 * 1024 * 1024}


def copy_project(dest: Path) -> Path:
    for name in ("papers", "notebooks", "minimal_impls", "slides", "docs", "tests", "data"):
        if (ROOT / name).exists():  # tests/: the papers' "Common mistakes" name tests that check verifies
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    shutil.copy2(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    (dest / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return dest


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(repeat: int, only: list[str] | None, run_tests: bool) -> dict:
    quiet = lambda _msg: None  # noqa: E731
    today = dt.date.today()
    out: dict = {"notebooks": {}, "cold": [], "warm": [], "touched": [], "tests": None, "pages": {}}
    with tempfile.TemporaryDirectory(prefix="paperclub-bench-") as tmp:
        root = copy_project(Path(tmp) / "project")
        project = Project(root)
        papers = [p for p in load_papers(project.papers) if not only or p.slug in only]
        slugs = [p.slug for p in papers]
        notebooks = {s: project.notebooks / f"{s}.py" for s in slugs}
        # one notebook at a time, all cores: what a member sees when running it
        for _ in range(repeat):
            res = execute_all(notebooks, project.impls, Path(tmp) / "nbcache", jobs=1, force=True, log=quiet)
            for s, r in res.items():
                if not r.ok:
                    raise SystemExit(f"bench: {r.error}")
                out["notebooks"].setdefault(s, []).append(r.seconds)
        site = Path(tmp) / "site"
        for i in range(repeat):
            cache = Path(tmp) / f"cache{i}"
            out["cold"].append(timed(lambda: build(project, site, cache, only=slugs, today=today, log=quiet)))
            out["warm"].append(timed(lambda: build(project, site, cache, only=slugs, today=today, log=quiet)))
            impl = project.impls / f"{papers[0].module}.py"
            impl.write_text(impl.read_text() + f"\n# bench touch {i}\n")
            out["touched"].append(timed(lambda: build(project, site, cache, only=slugs, today=today, log=quiet)))
        out["touched_paper"] = papers[0].slug
        out["pages"] = page_weights(site)
    if run_tests:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-m", "not slow", "-n", "2", "-q", "-p", "no:cacheprovider"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        out["tests"] = time.perf_counter() - t0
    return out


def fmt_s(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s" + (f" (n={len(values)})" if len(values) > 1 else "")


def table(m: dict) -> str:
    ok = lambda v, b: "✔" if v <= b else "✘ over"  # noqa: E731
    rows = ["| what | measured (median) | budget | |", "| --- | ---: | ---: | --- |"]
    for slug, vals in sorted(m["notebooks"].items()):
        rows.append(f"| notebook `{slug}` | {fmt_s(vals)} | 60 s | {ok(statistics.median(vals), 60)} |")
    for key, label, budget in (("cold", "full cold build", BUDGETS["cold"]),
                               ("warm", "rebuild, nothing changed", BUDGETS["warm"]),
                               ("touched", f"rebuild after touching `minimal_impls/{m['touched_paper'].replace('-', '_')}.py`",
                                None)):
        med = statistics.median(m[key])
        rows.append(f"| {label} | {fmt_s(m[key])} | {f'{budget:.0f} s' if budget else '—'} | "
                    f"{ok(med, budget) if budget else ''} |")
    if m["tests"] is not None:
        rows.append(f"| test suite without the end-to-end build (`pytest -m 'not slow' -n 2`) | {m['tests']:.1f} s | "
                    f"600 s | {ok(m['tests'], 600)} |")
    page, weight = max(m["pages"].items(), key=lambda kv: kv[1])
    rows.append(f"| largest page, HTML + scripts + styles + images (`{page}`) | {weight / 1e6:.2f} MB | 2.10 MB | "
                f"{ok(weight, BUDGETS['page'])} |")
    return "\n".join(rows)


def header() -> str:
    import torch

    return (f"Measured {dt.date.today().isoformat()} on {platform.machine()} with {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}, device: "
            f"{'cuda' if torch.cuda.is_available() else 'cpu'}.")


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one paper, one run, no test suite (for tests)")
    ap.add_argument("--only", nargs="+")
    args = ap.parse_args(argv)
    only = args.only or (["vae"] if args.quick else None)
    m = measure(1 if args.quick else args.repeat, only, run_tests=not args.quick)
    text = header() + "\n\n" + table(m)
    print(text)
    return text


if __name__ == "__main__":
    main()
