"""The whole benchmark, what `make bench` runs: the budgets of bench/budgets.py, then each implementation against the
library a reader would pick instead. Prints one Markdown report and writes it as the site's
"Performance" page.

    python bench/run.py                     # full: budgets (3 runs each) and comparisons (5 repeats)
    python bench/run.py --quick             # tiny sizes, one run each (what the tests run)
    python bench/run.py --budgets skip      # only the comparisons
    python bench/run.py --out -             # print only, write no page
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import compare  # noqa: E402

PAGE = ROOT / "docs" / "performance.md"


def machine() -> str:
    """Where this ran: the line a reader needs to compare figures (the device is cpu or cuda)."""
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cuda":
        dev += f" ({torch.cuda.get_device_name(0)})"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{dt.date.today().isoformat()}, {platform.system()} {platform.machine()} ({cpu}) with {os.cpu_count()} "
            f"CPU cores, Python {platform.python_version()}, torch {torch.__version__}, device: {dev}")


def report(budgets_text: str | None, rows: list[compare.Row], command: str, quick: bool, threads: int,
           seconds: float) -> str:
    mode = f"`{command}`" + (" (tiny sizes, one run each: the figures only show that the bench works)"
                             if quick else "")
    parts = [
        "# Performance",
        "",
        "How fast and how faithful the site's implementations are: the site's own budgets (set in "
        "`bench/budgets.py`), then each implementation side by side with the library a reader would pick instead, "
        "on the same inputs, in the same process.",
        "",
        f"Reproduce it with `make bench`: it installs the optional `bench` extra (OpenCV, filterpy, ikpy, "
        f"pymunk) and writes this page. timm and open_clip need torchvision, which does not install beside "
        f"the project's torch, so their rows run in a second virtual environment, `.venv-bench-tv` "
        f"(`python3 -m venv .venv-bench-tv && .venv-bench-tv/bin/pip install torch==2.14.1 "
        f"torchvision==0.29.1 timm open-clip-torch numpy`); without it those rows say they were skipped. "
        f"This page was written by {mode}, on {machine()}; it took {seconds / 60:.1f} min. The same code "
        f"runs on a GPU when one is present; the bench prints the device.",
        "",
        "Timings are medians of interleaved repeats (ours, theirs, theirs, ours, …) after a warm-up, so "
        "load from anything else on the machine falls on both sides; the ratios are steadier than the "
        f"absolute times. Both sides of a comparison get {threads} CPU thread{'s' if threads > 1 else ''} "
        "(`--threads`). A speed ratio is the library's time over ours: above 1, ours is faster.",
    ]
    if budgets_text is not None:
        parts += ["", "## Budgets", "", budgets_text.strip()]
    # bench/loop.py's section (the author's loop, the sweep, the Dask path) is kept as it was measured
    page = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    start, end = page.find("<!-- loop-bench:start -->"), page.find("<!-- loop-bench:end -->")
    if 0 <= start < end:
        parts += ["", page[start:end + len("<!-- loop-bench:end -->")]]
    parts += ["", "## Against the libraries a reader would pick instead", "", compare.table(rows), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one run each (for the tests)")
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats per comparison (budgets: 3)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for torch/OpenCV in the comparisons")
    ap.add_argument("--budgets", choices=("full", "quick", "skip"),
                    help="budgets: full (3 runs of everything, the default), quick (one paper, one run; the "
                         "default with --quick) or skip (only the library comparisons)")
    ap.add_argument("--budget-repeat", type=int, default=3, help="runs of each budget measurement (median)")
    ap.add_argument("--out", default=str(PAGE), help="where to write the page ('-': nowhere)")
    args = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    log(f"bench: {machine()}")
    t0 = time.perf_counter()
    budgets_text = None
    mode = args.budgets or ("quick" if args.quick else "full")
    if mode != "skip":
        log(f"bench: budgets, {mode} (notebooks, builds, test suite, page weight)")
        try:
            import budgets

            with contextlib.redirect_stdout(sys.stderr):   # printed once, in the report below
                budgets_text = budgets.main(["--quick"] if mode == "quick" else ["--repeat", str(args.budget_repeat)])
            if mode == "quick":
                budgets_text += ("\n\n(Quick mode: one paper, one run, no test suite — run `make bench` for the "
                                 "full budgets.)")
        except (Exception, SystemExit) as exc:  # noqa: BLE001 — the comparisons still run and say so
            budgets_text = f"Not measured: the budgets run failed ({type(exc).__name__}: {exc})."
            log(f"bench: {budgets_text}")
    rows = compare.run_all(quick=args.quick, repeat=args.repeat, threads=args.threads, log=log)
    argv = sys.argv[1:] if argv is None else argv
    command = "make bench" if not argv else " ".join(["python bench/run.py", *argv])
    text = report(budgets_text, rows, command, args.quick, args.threads, time.perf_counter() - t0)
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text, encoding="utf-8")
        log(f"bench: wrote {args.out}")
    return text


if __name__ == "__main__":
    main()
