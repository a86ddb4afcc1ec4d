"""Stage 0: the command line. Every Makefile target calls one of these verbs.

    paperclub build [--strict] [--only SLUG ...] [--force [SLUG ...]]
                                                    execute, render, build and audit the site
    paperclub check                                 validate every paper file, run nothing
    paperclub new "Title" --slug SLUG               scaffold a paper that builds as it is
    paperclub notebooks                             write paired .ipynb files for Jupyter
    paperclub serve [--port 8000]                   serve site/ on 127.0.0.1
    paperclub slides-pdf                            print every deck to PDF (headless Chromium)
"""
from __future__ import annotations

import argparse
import os
import datetime as dt
import http.server
import sys
from pathlib import Path

import errno
import json
import keyword

from paperclub.errors import PaperclubError
from paperclub.layout import Project, module_name
from paperclub.papers import MAX_SLUG, SLUG, check_heading_text, shadowed_module

TEMPLATES = Path(__file__).parent / "templates"


def cmd_build(args: argparse.Namespace, project: Project) -> int:
    from paperclub.build import build

    force = True if args.force == [] else (args.force or False)
    report = build(project, args.site, args.cache, only=args.only, strict=args.strict, force=force,
                   jobs=args.jobs, limit_s=args.limit, today=args.today, scheduler=args.scheduler,
                   shared_cache=args.shared_cache, engine=args.engine)
    if report.failed_claims or report.warnings:
        print(f"paperclub: {len(report.failed_claims)} claim(s) do not hold, are vacuous or fragile (marked in the "
              f"claims tables), {len(report.warnings)} other trust warning(s) (listed above); --strict makes them "
              "errors")
    return 0


def cmd_sweep(args: argparse.Namespace, project: Project) -> int:
    from paperclub.build import sweep

    force = True if args.force == [] else (args.force or False)
    report = sweep(project, args.cache, only=args.slugs or None, seeds=args.seeds, force=force, jobs=args.jobs,
                   limit_s=args.limit, scheduler=args.scheduler, shared_cache=args.shared_cache)
    for line in report.problems:
        print(f"warning: {line}", file=sys.stderr)
    return 1 if (report.problems and args.strict) else 0


def cmd_check(args: argparse.Namespace, project: Project) -> int:
    from paperclub.check import check_project

    report = check_project(project)
    for line in report.problems:
        print(line, file=sys.stderr)
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if report.problems or (args.strict and report.warnings):
        print(f"paperclub check: {len(report.problems)} problem(s), {len(report.warnings)} warning(s)",
              file=sys.stderr)
        return 1
    print(f"paperclub check: {len(report.papers)} papers, all valid"
          + (f" ({len(report.warnings)} warning(s))" if report.warnings else ""))
    return 0


def _yaml_str(text: str) -> str:
    """A YAML double-quoted scalar for any title (backslashes, quotes and all)."""
    return json.dumps(text, ensure_ascii=False)


def scaffold(project: Project, title: str, slug: str, year: int) -> list[Path]:
    """Write the five files of a new paper from the templates; refuse to overwrite anything."""
    if not SLUG.match(slug) or keyword.iskeyword(module_name(slug)):
        raise PaperclubError(f"--slug: must be lowercase letters, digits and '-', start with a letter, and not "
                             f"be a Python keyword (its module is {module_name(slug)!r}), got {slug!r}")
    if len(slug) > MAX_SLUG:
        raise PaperclubError(f"--slug: at most {MAX_SLUG} characters (got {len(slug)}); it names five files and "
                             "a URL")
    shadowed = shadowed_module(slug)
    if shadowed:
        raise PaperclubError(f"--slug {slug}: notebooks/{slug}.py would hide the module '{shadowed}' from every "
                             f"notebook (they run in notebooks/); choose another slug, e.g. '{slug}-paper'")
    if not title.strip():
        raise PaperclubError("title: must not be empty")
    if any(ord(ch) < 32 for ch in title):
        raise PaperclubError("title: must be one line of text")
    try:
        check_heading_text(title)
    except ValueError as err:
        raise PaperclubError(f"title: {err}") from None
    module = module_name(slug)
    targets = project.files_of(slug)
    existing = [p for p in targets.values() if p.exists()]
    if existing:
        raise PaperclubError(f"{project.rel(existing[0])}: already exists; choose another --slug")
    values = {"title_yaml": _yaml_str(title), "title_py": repr(title)[1:-1].replace('"""', '\\"\\"\\"'),
              "title_md": title.replace("<", "&lt;").replace(">", "&gt;"),
              "slug": slug, "module": module, "year": year}
    init = project.impls / "__init__.py"
    if not init.exists():
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_text('"""Reference implementations, one readable file per paper."""\n', encoding="utf-8")
    for template, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((TEMPLATES / template).read_text(encoding="utf-8").format(**values), encoding="utf-8")
    return list(targets.values())


def cmd_new(args: argparse.Namespace, project: Project) -> int:
    for path in scaffold(project, args.title, args.slug, dt.date.today().year):
        print(f"created {path.relative_to(project.root)}")
    print(f"next: edit them, then 'paperclub check', 'paperclub build --only {args.slug}' (the paper shows as a "
          f"draft card) and 'paperclub sweep {args.slug}' (every claim at seeds 0–4); a ready paper needs three "
          "claims, each with a control (docs/adding-a-paper.md)")
    return 0


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def _digest(nb) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(_sources(nb)).encode()).hexdigest()


def cmd_notebooks(args: argparse.Namespace, project: Project) -> int:
    """Write ``notebooks/<slug>.ipynb`` from each ``.py``, never over edits made in the ``.ipynb``: it is
    rewritten only when its cells are still those paperclub last wrote (a digest in its metadata) or those
    of the ``.py``; an edited one is kept, and named."""
    import jupytext

    from paperclub.execute import read_text

    kept = []
    for py in sorted(project.notebooks.glob("*.py")):
        nb = jupytext.reads(read_text(py, project.rel(py)), fmt="py:percent")
        nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        target = py.with_suffix(".ipynb")
        if target.exists():
            try:
                old = jupytext.read(target)
            except Exception:  # not a notebook we can read: never overwrite it
                old = None
            if old is not None and _sources(old) == _sources(nb):
                print(f"up to date {project.rel(target)}")
                continue
            written = old.metadata.get("paperclub", {}).get("cells_sha256") if old is not None else None
            if old is None or written != _digest(old):
                kept.append(target)
                print(f"kept {project.rel(target)}: it has edits that {py.name} does not have; save them into "
                      f"{py.name} (jupytext --sync {project.rel(target)}) or delete the .ipynb", file=sys.stderr)
                continue
        nb.metadata["paperclub"] = {"cells_sha256": _digest(nb)}
        jupytext.write(nb, target)
        print(f"wrote {project.rel(target)} (paired with {py.name})")
    return 1 if kept else 0


def cmd_serve(args: argparse.Namespace, project: Project) -> int:
    import threading

    from paperclub import serve

    if args.watch and not (args.site / "index.html").exists():
        from paperclub.build import build

        build(project, args.site, args.cache, wait=True)
    if not (args.site / "index.html").exists():
        raise PaperclubError(f"{args.site}: no built site here; run 'paperclub build' first")
    state = serve.LiveState() if args.watch else None
    handler = serve.make_handler(args.site, state)
    try:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise PaperclubError(f"--port {args.port}: already in use; stop the other server or pass "
                                 f"--port {args.port + 1}") from None
        raise PaperclubError(f"--port {args.port}: cannot serve ({err.strerror})") from None
    stop = threading.Event()
    if state is not None:
        from paperclub.build import build

        def rebuild() -> None:
            build(project, args.site, args.cache, wait=True, log=lambda line: print(line, flush=True))

        threading.Thread(target=serve.watch, args=(project, state, rebuild, stop),
                         kwargs={"log": lambda line: print(line, flush=True)}, daemon=True).start()
    with httpd:
        print(f"paperclub: serving {project.rel(args.site)} on http://127.0.0.1:{args.port}/ "
              + ("(rebuilds and reloads on every saved edit; " if state is not None else "(")
              + "Ctrl-C stops)", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            print("\npaperclub: stopped serving")
        finally:
            stop.set()
    return 0


def cmd_slides_pdf(args: argparse.Namespace, project: Project) -> int:
    from paperclub.slides import export_pdf, find_chromium

    chromium = find_chromium()
    if chromium is None:
        raise PaperclubError("slides-pdf: no Chromium found; install it (Debian: apt-get install chromium) "
                             "or open a deck with '?print-pdf' and print it from your browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        raise PaperclubError("slides-pdf: Playwright is missing; install the test extra "
                             "(.venv/bin/pip install -e '.[test]')") from None
    decks = sorted((args.site / "slides").glob("*/index.html"))
    if not decks:
        raise PaperclubError(f"{args.site}/slides: no decks; run 'paperclub build' first")
    for out in export_pdf(decks, args.out, chromium):
        print(f"wrote {out.relative_to(project.root) if out.is_relative_to(project.root) else out}")
    return 0


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from err


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {port}")
    return port


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="paperclub", description="Study-site generator for a paper-reading club.")
    ap.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: current folder)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    # --root is accepted after the verb too (paperclub build --root ../club)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", dest="root_after", type=Path, default=None, help="project root")
    b = sub.add_parser("build", parents=[common], help="execute notebooks, render and audit the site")
    b.add_argument("--site", type=Path, default=None, help="output folder (default: site/)")
    b.add_argument("--cache", default=None, help="executed-notebook cache: a folder (default: build/cache/) or an "
                   "fsspec URL (file://…, s3://…) shared between machines")
    b.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run notebooks on a Dask cluster, e.g. tcp://host:8786 (default: $PAPERCLUB_SCHEDULER)")
    b.add_argument("--only", nargs="+", metavar="SLUG", help="build only these papers")
    b.add_argument("--strict", action="store_true",
                   help="fail when a claim does not hold or is vacuous, or on any trust warning")
    b.add_argument("--force", nargs="*", metavar="SLUG", default=None,
                   help="re-run these notebooks (all when no slug is given) even when cached")
    b.add_argument("--jobs", type=int, default=None, help="notebooks run in parallel (default: CPU count)")
    b.add_argument("--limit", type=int, default=300, help="time limit per notebook in seconds")
    b.add_argument("--today", type=_date, default=None, help="date for the schedule (default: today)")
    b.add_argument("--engine", choices=["mkdocs", "zensical"], default="mkdocs",
                   help="site engine: MkDocs with Material (default) or Zensical, its successor (the "
                   "'zensical' extra); both get the same audit")
    b.set_defaults(func=cmd_build)
    w = sub.add_parser("sweep", parents=[common], help="re-run notebooks at seeds 0…N-1 so every claim is judged on every seed")
    w.add_argument("slugs", nargs="*", metavar="SLUG", help="papers to sweep (default: all)")
    w.add_argument("--seeds", type=int, default=5, help="how many seeds, 0…N-1 (default 5; seed 0 is the page's run)")
    w.add_argument("--cache", default=None, help="executed-notebook cache: a folder (default: build/cache/) or an "
                   "fsspec URL shared between machines")
    w.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask cluster, e.g. tcp://host:8786 (default: $PAPERCLUB_SCHEDULER)")
    w.add_argument("--force", nargs="*", metavar="SLUG", default=None, help="re-run even when cached")
    w.add_argument("--jobs", type=int, default=None, help="runs in parallel (default: CPU count)")
    w.add_argument("--limit", type=int, default=300, help="time limit per run in seconds")
    w.add_argument("--strict", action="store_true", help="exit 1 when a claim is fragile or vacuous over the seeds")
    w.set_defaults(func=cmd_sweep)
    c = sub.add_parser("check", parents=[common], help="validate every paper, notebook, deck and reference without running anything")
    c.add_argument("--strict", action="store_true", help="trust warnings are errors too")
    c.set_defaults(func=cmd_check)
    n = sub.add_parser("new", parents=[common], help="scaffold a new paper")
    n.add_argument("title")
    n.add_argument("--slug", required=True)
    n.set_defaults(func=cmd_new)
    sub.add_parser("notebooks", parents=[common], help="write paired .ipynb notebooks for Jupyter").set_defaults(func=cmd_notebooks)
    s = sub.add_parser("serve", parents=[common], help="serve the built site on 127.0.0.1")
    s.add_argument("--site", type=Path, default=None)
    s.add_argument("--port", type=_port, default=8000)
    s.add_argument("--cache", default=None, help="executed-notebook cache (default: build/cache/)")
    s.add_argument("--no-watch", dest="watch", action="store_false",
                   help="serve the site as it is: no rebuild on edits, no reload script")
    s.set_defaults(func=cmd_serve)
    p = sub.add_parser("slides-pdf", parents=[common], help="print every deck to PDF with headless Chromium")
    p.add_argument("--site", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="default: build/slides-pdf/")
    p.set_defaults(func=cmd_slides_pdf)
    return ap


def _resolve_folders(args: argparse.Namespace, project: Project) -> None:
    """``--site``, ``--cache`` and ``--out`` as absolute paths (a relative one is relative to the current
    folder, as in any shell command); for ``build``, each folder it writes into passes the one guard
    (:mod:`paperclub.guard`) before anything runs, and the cache is marked as paperclub's."""
    from paperclub import guard

    named = {}
    for name, default in (("site", project.default_site), ("cache", project.default_cache), ("out", project.slides_pdf)):
        if hasattr(args, name):
            named[name] = value = getattr(args, name)
            setattr(args, name, default if value is None else guard.absolute(value))
    if args.cmd in ("build", "sweep") or (args.cmd == "serve" and args.watch):
        from paperclub.build import check_target

        if getattr(args, "only", None) and getattr(args, "force", None):
            outside = sorted(set(args.force) - set(args.only))
            if outside:
                raise PaperclubError(f"--force {outside[0]}: not built by this command (--only "
                                     f"{' '.join(args.only)}); add it to --only or leave it out of --force")
        others = ()
        if "site" in named:
            args.site = check_target(project, named["site"] if named["site"] is not None else args.site)
            others = (args.site,)
        args.cache = guard.check_folder(project, named["cache"] if named["cache"] is not None else args.cache,
                                        "--cache", guard.CACHE_MARKER, default=project.default_cache,
                                        others=others)
        guard.claim(args.cache, guard.CACHE_MARKER, "executed-notebook cache")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    project = Project(guard_root(args.root_after or args.root))
    args.shared_cache = None
    if isinstance(getattr(args, "cache", None), str):
        if "://" in args.cache:
            args.shared_cache, args.cache = args.cache, None   # a shared store; runs still land in build/cache
        else:
            args.cache = Path(args.cache)
    if hasattr(args, "scheduler") and not args.scheduler:
        args.scheduler = os.environ.get("PAPERCLUB_SCHEDULER") or None
    try:
        _resolve_folders(args, project)
        return args.func(args, project)
    except PaperclubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:   # a read-only or unreadable folder: one line, not a traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\npaperclub: interrupted; the last complete site is unchanged", file=sys.stderr)
        return 130


def guard_root(root: Path) -> Path:
    from paperclub import guard

    return guard.absolute(root).resolve()


if __name__ == "__main__":
    sys.exit(main())
