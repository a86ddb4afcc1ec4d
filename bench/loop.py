"""The author's loop and the season at scale: rebuild times, the seed sweep, and the Dask path's overhead.

    python bench/loop.py [--skip-sweep] [--out docs/performance.md]

Measures, on this machine, and writes them into docs/performance.md between the markers below (the rest
of the page is `make bench`'s):

* the seed sweep of every paper at 5 seeds, on the project's own cache (seed 0 is the page's run), so
  that `paperclub build --strict` can pass afterwards — budget 15 min;
* a rebuild with nothing changed, and a rebuild after saving one paper's notes (what `paperclub serve`
  does before the open page reloads), on a copy of the project with the same cache;
* a sweep of two papers at two seeds through a local two-worker Dask cluster against the local pool
  (both forced to run) — budget: at most 10 % slower.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from budgets import copy_project  # noqa: E402
from paperclub.build import build, sweep  # noqa: E402
from paperclub.layout import Project  # noqa: E402

START, END = "<!-- loop-bench:start -->", "<!-- loop-bench:end -->"
PAIR = ["physgen", "quadruped-ik"]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-sweep", action="store_true", help="leave out the full 10 × 5 sweep")
    ap.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = ap.parse_args(argv)
    quiet = lambda _m: None  # noqa: E731
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    project = Project(ROOT)
    rows: list[tuple[str, str, str]] = []
    last = project.default_cache / "sweep" / "last.json"
    if args.skip_sweep and last.exists():
        import json

        info = json.loads(last.read_text(encoding="utf-8"))
        season = len(list(project.papers.glob("*.md")))
        if len(info["papers"]) == season and info["executed"] >= info["runs"] - season:
            rows.append((f"seed sweep, {season} papers × {info['seeds']} seeds ({info['executed']} of {info['runs']} "
                         f"runs executed), `paperclub sweep` on {info['date']}", f"{info['seconds'] / 60:.1f} min",
                         "15 min"))
        else:   # the last sweep re-ran only some papers: not the season's figure
            rows.append(("seed sweep of the whole season", "not measured by the last sweep (it re-ran "
                         f"{', '.join(info['papers'])})", "15 min"))
    if not args.skip_sweep:
        log("bench: sweep, 10 papers × 5 seeds")
        report = sweep(project, project.default_cache, seeds=5, log=log, wait=True)
        ran = sum(r.status == "executed" for r in report.runs.values())
        rows.append((f"seed sweep, {len(report.papers)} papers × 5 seeds ({ran} runs, the rest cached)",
                     f"{report.seconds / 60:.1f} min", "15 min"))
    with tempfile.TemporaryDirectory(prefix="paperclub-loop-") as tmp:
        root = copy_project(Path(tmp) / "project")
        shutil.copytree(project.default_cache, root / "build" / "cache", symlinks=False,
                        ignore=shutil.ignore_patterns(".*"))
        copy = Project(root)
        site = root / "site"
        log("bench: first build of the copy (renders everything from the cache)")
        first = timed(lambda: build(copy, site, copy.default_cache, log=quiet))
        rows.append(("build from a warm cache (renders every page; runs nothing)", f"{first:.1f} s", "—"))
        again = timed(lambda: build(copy, site, copy.default_cache, log=quiet))
        rows.append(("rebuild, nothing changed", f"{again:.1f} s", "5 s"))
        notes = copy.paper("vae")
        notes.write_text(notes.read_text(encoding="utf-8") + "\n\nA saved edit.\n", encoding="utf-8")
        edited = timed(lambda: build(copy, site, copy.default_cache, log=quiet))
        rows.append(("save a notes file → site rebuilt (`paperclub serve` then reloads the page, ≤ 0.3 s poll)",
                     f"{edited:.1f} s", "2 s"))
        try:
            from distributed import LocalCluster
        except ImportError:
            LocalCluster = None
        if LocalCluster is not None:
            log("bench: Dask against the local pool, 2 papers × 2 seeds, forced")
            local = timed(lambda: sweep(copy, copy.default_cache, only=PAIR, seeds=2, force=True, log=quiet))
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
                remote = timed(lambda: sweep(copy, copy.default_cache, only=PAIR, seeds=2, force=True, log=quiet,
                                             scheduler=lc.scheduler_address))
            rows.append((f"sweep of {' and '.join(PAIR)} × 2 seeds, local pool (2 processes)", f"{local:.1f} s", "—"))
            rows.append(("the same through a local 2-worker Dask cluster", f"{remote:.1f} s ({remote / local - 1:+.0%})",
                         "≤ +10 %"))
    stamp = f"Measured {dt.date.today().isoformat()} with `python bench/loop.py{' --skip-sweep' if args.skip_sweep else ''}` on {os.cpu_count()} CPU cores."
    table = "\n".join(["| what | measured | budget |", "| --- | ---: | ---: |"] + [f"| {a} | {b} | {c} |" for a, b, c in rows])
    section = f"{START}\n## The author's loop and the season at scale\n\n{stamp}\n\n{table}\n{END}"
    out = Path(args.out)
    text = out.read_text(encoding="utf-8") if out.exists() else "# Performance\n"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: section, text, flags=re.S)
    else:
        text = text.replace("\n## Against the libraries", f"\n{section}\n\n## Against the libraries", 1) \
            if "\n## Against the libraries" in text else text.rstrip() + "\n\n" + section + "\n"
    out.write_text(text, encoding="utf-8")
    print(section)
    return section


if __name__ == "__main__":
    main()
