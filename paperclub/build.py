"""The whole pipeline: check → execute (cached) → render the outputs → mkdocs build --strict → audit → swap.

The outputs are a list of named steps (:data:`STEPS`): each writes its part of the staging docs tree and
says which files it wrote, and the audit expects exactly the pages they produce. A new output format is
one more step.

Safety: one build at a time per project (a lock); the site folder is replaced only when it is one that
paperclub made (a marker file) or a new/empty folder; the new site is built beside it and swapped in with
renames, and an interrupted swap is repaired at the next start, so a crash at any point leaves the last
complete site.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import yaml

from paperclub import audit, fragments as frag, render, schedule, slides
from paperclub.bind import literal_numbers
from paperclub.check import check_project, inputs_of
from paperclub.errors import PaperclubError
from paperclub.execute import NotebookResult, clean_leftovers, execute_all, read_text
from paperclub.layout import Project, SiteMap
from paperclub.papers import Paper

MARKER = ".paperclub-site"
WORK_PREFIX = ".paperclub-build-"
HAND_WRITTEN_NAV = [("Running the notebooks", "running-locally.md"), ("Adding a paper", "adding-a-paper.md"),
                    ("Performance", "performance.md")]


@dataclass
class BuildReport:
    papers: list[Paper] = field(default_factory=list)
    results: dict[str, NotebookResult] = field(default_factory=dict)
    failed_claims: list[str] = field(default_factory=list)   # claims that do not hold, or are vacuous
    warnings: list[str] = field(default_factory=list)        # trust warnings: missing controls, literal numbers
    seconds: float = 0.0
    site: Path | None = None


# --------------------------------------------------------------------------- the output steps

@dataclass
class Stage:
    """What every step may read, and where it writes."""
    project: Project
    papers: list[Paper]
    results: dict[str, NotebookResult]
    docs: Path
    today: dt.date
    site_url: str | None

    @property
    def by_slug(self) -> dict[str, Paper]:
        return {p.slug: p for p in self.papers}

    def write(self, rel: str, content: str | bytes) -> str:
        path = self.docs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return rel

    def place(self, files: render.PageFiles, rel: str) -> list[str]:
        written = [self.write(rel, files.markdown)]
        for src, dest in files.copies:
            (self.docs / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, self.docs / dest)
        for dest, blob in files.blobs.items():
            self.write(dest, blob)
        return written


def step_assets(st: Stage) -> list[str]:
    """KaTeX and reveal.js (from node_modules, installed at set-up) and paperclub's own CSS/JS."""
    katex = st.project.node_modules / "katex" / "dist"
    if not (katex / "katex.min.js").exists():
        raise PaperclubError("node_modules/katex is missing: run 'make install' (npm ci installs KaTeX from the "
                             "npm registry)")
    out = st.docs / SiteMap.ASSETS
    (out / "katex" / "contrib").mkdir(parents=True, exist_ok=True)
    for name in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js"):
        shutil.copy2(katex / name, out / "katex" / name)
    shutil.copytree(katex / "fonts", out / "katex" / "fonts", dirs_exist_ok=True)
    for f in render_assets():
        shutil.copy2(f, out / f.name)
    # the Web Worker shim Material's offline plugin needs to search from file:// (mkdocs.yml's polyfills)
    shim = st.project.node_modules / "iframe-worker" / "shim" / "index.js"
    if not shim.exists():
        raise PaperclubError("node_modules/iframe-worker is missing: run 'make install' (npm ci installs it from "
                             "the npm registry; the site's search needs it from file://)")
    (out / "iframe-worker").mkdir(exist_ok=True)
    shutil.copy2(shim, out / "iframe-worker" / "shim.js")
    slides.copy_reveal(st.project.root, out)
    return []


def render_assets() -> list[Path]:
    return sorted(p for p in (Path(__file__).parent / "assets").iterdir() if p.is_file())


# the site's own CSS and JS, in load order (KaTeX rather than MathJax: 0.3 MB of script instead of 1.2 MB
# keeps a paper page with its figures inside the 2 MB page budget)
EXTRA_CSS = ["assets/katex/katex.min.css", "assets/paperclub.css"]
EXTRA_JS = ["assets/katex/katex.min.js", "assets/katex/contrib/auto-render.min.js", "assets/katex-init.js",
            "assets/paperclub.js"]


def step_hand_written(st: Stage) -> list[str]:
    if not st.project.docs.exists():
        return []
    return [st.write(p.name, read_text(p, f"docs/{p.name}")) for p in sorted(st.project.docs.glob("*.md"))
            if p.name != "home.md"] + [st.write(f"images/{p.name}", p.read_bytes())
                                       for p in sorted((st.project.docs / "images").glob("*")) if p.is_file()]


def step_paper_pages(st: Stage) -> list[str]:
    written = []
    for p in st.papers:
        page = render.paper_page(p, st.results[p.slug], st.project, st.by_slug)
        written += st.place(page, SiteMap.page(p.slug))
        impl_md, _ = render.implementation_page(p, st.project)
        written.append(st.write(f"{SiteMap.page_dir(p.slug)}/implementation.md", impl_md))
    return written


def step_handouts(st: Stage) -> list[str]:
    return [w for p in st.papers
            for w in st.place(render.handout_page(p, st.results[p.slug], st.site_url), SiteMap.handout(p.slug))]


def step_decks(st: Stage) -> list[str]:
    written = []
    for p in st.papers:
        deck = slides.build_deck(p, st.results[p.slug], st.project.deck(p.slug), st.project.mkdocs_yml)
        for f in deck.figures:
            dest = f"{SiteMap.deck_dir(p.slug)}/figures/{f.name}"
            blob = f.read_bytes()
            st.write(dest, render.shrink_png(blob, st.project.png_cache) if f.suffix == ".png" else blob)
        written.append(st.write(SiteMap.deck(p.slug), deck.html))
    return written


def step_home(st: Stage) -> list[str]:
    for p in st.papers:
        figs = st.results[p.slug].figures
        if figs:
            st.write(SiteMap.thumbnail(p.slug), render.thumbnail(figs[0]))
    home = st.project.home_md
    intro = read_text(home, "docs/home.md") if home.exists() else "# Paper club"
    return [st.write(SiteMap.HOME, render.home_page(st.papers, st.results, intro,
                                                    schedule.next_session_box(st.papers, st.today), st.today))]


def step_schedule(st: Stage) -> list[str]:
    return [st.write(SiteMap.SCHEDULE, schedule.schedule_page(st.papers, st.today)),
            st.write(SiteMap.ICS, schedule.calendar(st.papers))]


def step_metrics(st: Stage) -> list[str]:
    return [st.write(SiteMap.METRICS, render.metrics_json(st.papers, st.results))]


STEPS: list[tuple[str, Callable[[Stage], list[str]]]] = [
    ("assets", step_assets), ("hand-written pages", step_hand_written), ("paper pages", step_paper_pages),
    ("handouts", step_handouts), ("decks", step_decks), ("home", step_home), ("schedule", step_schedule),
    ("metrics", step_metrics),
]


def stage_docs(st: Stage) -> list[str]:
    """Run every output step; return the docs-tree files they wrote."""
    written: list[str] = []
    for _, step in STEPS:
        written += step(st)
    return written


def nav(papers: list[Paper], docs: Path) -> list:
    ordered = sorted(papers, key=lambda p: (p.session.date or dt.date.max, p.slug))
    out: list = [{"Home": SiteMap.HOME}, {"Schedule": SiteMap.SCHEDULE},
                 {"Papers": [{frag.plain(p.title): SiteMap.page(p.slug)} for p in ordered]}]
    return out + [{title: f} for title, f in HAND_WRITTEN_NAV if (docs / f).exists()]


def mkdocs_config(project: Project, staging: Path, site_dir: Path, nav_: list) -> Path:
    """A generated config: the repository's ``mkdocs.yml`` plus docs/site folders, nav and assets."""
    base = project.mkdocs_yml
    if not base.exists():
        raise PaperclubError("mkdocs.yml: file not found at the project root")
    try:
        cfg = yaml.safe_load(read_text(base, "mkdocs.yml")) or {}
    except yaml.YAMLError as err:
        raise PaperclubError(f"mkdocs.yml: not valid YAML: {err}") from err
    cfg.update(docs_dir=str(staging), site_dir=str(site_dir), nav=nav_)
    cfg["extra_css"] = list(cfg.get("extra_css", [])) + EXTRA_CSS
    cfg["extra_javascript"] = list(cfg.get("extra_javascript", [])) + EXTRA_JS
    out = staging.parent / "mkdocs.generated.yml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def site_url(project: Project) -> str | None:
    try:
        cfg = yaml.safe_load(read_text(project.mkdocs_yml, "mkdocs.yml")) or {}
    except (yaml.YAMLError, PaperclubError):
        return None
    url = cfg.get("site_url")
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def run_site_engine(config: Path) -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(config)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines()
                 if ("WARNING" in ln or "ERROR" in ln or "Error" in ln) and "MkDocs 2.0" not in ln]
        detail = "\n  ".join(lines[:20]) or (proc.stderr.strip()[-1000:] or "no output")
        raise PaperclubError(f"mkdocs build --strict failed:\n  {detail}")


def make_search_index_safe(site: Path) -> None:
    """Re-escape what the theme's indexer un-escaped (its previews are HTML): see audit.safe_index_text."""
    import json

    index = site / "search" / "search_index.json"
    if not index.exists():
        return
    data = json.loads(index.read_text(encoding="utf-8"))
    for doc in data.get("docs", []):
        for key in ("title", "text"):
            if isinstance(doc.get(key), str):
                doc[key] = audit.safe_index_text(doc[key])
        if isinstance(doc.get("tags"), list):
            doc["tags"] = [audit.safe_index_text(t) if isinstance(t, str) else t for t in doc["tags"]]
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    index.write_text(text, encoding="utf-8")
    script = site / "search" / "search_index.js"   # the same index for file:// pages (the offline plugin)
    if script.exists():
        script.write_text(audit.INDEX_SCRIPT_PREFIX + text, encoding="utf-8")


# --------------------------------------------------------------------------- safety: lock, target, swap

@contextmanager
def project_lock(project: Project, wait: bool = False) -> Iterator[None]:
    """One build at a time per project; the lock dies with its process, so a killed build never blocks.
    ``wait=True`` queues behind a running build instead of refusing."""
    project.lock.parent.mkdir(parents=True, exist_ok=True)
    fh = open(project.lock, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            who = fh.read().strip() or "another process"
            raise PaperclubError(f"another paperclub build is running in this project ({who}); wait for it "
                                 "to finish") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()


def check_target(project: Project, site: Path) -> None:
    """Refuse a ``--site`` that is not paperclub's to replace: never delete a folder paperclub did not make."""
    site = site.resolve()
    root = project.root.resolve()
    inputs = [project.papers, project.notebooks, project.impls, project.slides, project.docs, project.tests,
              project.build_dir, project.node_modules, project.root / ".git"]
    if site == root or root.is_relative_to(site):
        raise PaperclubError(f"--site {site}: is the project folder or contains it; choose a folder of its own "
                             "(default: site/)")
    for folder in inputs:
        f = folder.resolve()
        if site == f or site.is_relative_to(f):
            raise PaperclubError(f"--site {site}: is inside the project's {project.rel(folder)}/; "
                                 "choose another folder (default: site/)")
    if site.exists() and not site.is_dir():
        raise PaperclubError(f"--site {site}: exists and is not a folder")
    if site.is_dir() and any(site.iterdir()) and not (site / MARKER).exists():
        raise PaperclubError(f"--site {site}: folder exists, is not empty and was not made by paperclub "
                             f"(no {MARKER} marker); paperclub never replaces it. Choose a new or empty folder")


def _old(site: Path) -> Path:
    return site.with_name(f".{site.name}.old")


def recover_swap(site: Path) -> None:
    """Finish or undo a swap that a crash interrupted: the site folder is never left missing."""
    old = _old(site)
    if not site.exists() and (old / MARKER).exists():
        old.rename(site)
    elif site.exists() and (old / MARKER).exists():
        shutil.rmtree(old)
    for leftover in site.parent.glob(f".{site.name}.new-*"):
        if (leftover / MARKER).exists() or not any(leftover.iterdir()):
            shutil.rmtree(leftover, ignore_errors=True)


def swap_in(new_site: Path, site: Path) -> None:
    """Replace ``site`` by ``new_site`` (same parent folder): rename the old aside, rename the new in,
    delete the old. A crash between the two renames is repaired by :func:`recover_swap`."""
    (new_site / MARKER).write_text("made by paperclub build; paperclub replaces this folder on the next build\n",
                                   encoding="utf-8")
    old = _old(site)
    if old.exists():
        shutil.rmtree(old)
    if site.exists():
        if any(site.iterdir()) and not (site / MARKER).exists():  # checked before; checked again at the last moment
            raise PaperclubError(f"--site {site}: not made by paperclub; refusing to replace it")
        site.rename(old)
    try:
        os.rename(new_site, site)
    except OSError:
        if old.exists() and not site.exists():
            old.rename(site)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- the pipeline

def judge(project: Project, papers: list[Paper], results: dict[str, NotebookResult], report: BuildReport) -> None:
    """Claims that fail or are vacuous, and measured numbers typed by hand into notes or decks."""
    for p in papers:
        metrics = results[p.slug].metrics
        for v in p.verdicts(metrics):
            problem = v.problem()
            if problem and v.missing:
                raise PaperclubError(f"{p.label}: {problem}")
            if problem:
                report.failed_claims.append(f"{p.label}: {problem}")
        texts = [(p.label, p.body)]
        if project.deck(p.slug).exists():
            texts.append((project.rel(project.deck(p.slug)), read_text(project.deck(p.slug))))
        for name, text in texts:
            for line, lit, metric in literal_numbers(text, metrics):
                report.warnings.append(f"{name}:{line}: the literal {lit} equals the recorded metric {metric!r}; "
                                       f"write {{{{ {metric} }}}} instead")


def build(project: Project, site: Path, cache: Path, *, only: list[str] | None = None, strict: bool = False,
          force: list[str] | bool = False, jobs: int | None = None, limit_s: int = 300,
          today: dt.date | None = None, log: Callable[[str], None] = print, wait: bool = False) -> BuildReport:
    t0 = time.monotonic()
    today = today or dt.date.today()
    report = BuildReport()
    check_target(project, site)
    with project_lock(project, wait=wait):
        recover_swap(site)
        clean_leftovers(cache)
        for stale in project.build_dir.glob(f"{WORK_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)

        checked = check_project(project)
        papers = checked.papers
        if only:
            unknown = sorted(set(only) - {p.slug for p in papers} - {f.stem for f in project.papers.glob("*.md")})
            if unknown:
                raise PaperclubError(f"--only: unknown paper slug {unknown[0]!r} "
                                     f"(known: {', '.join(sorted(p.slug for p in papers))})")
            papers = [p for p in papers if p.slug in only]
            prefixes = tuple(project.rel(f) for s in only for f in project.files_of(s).values())
            checked.problems = [x for x in checked.problems if x.startswith(prefixes) or not x.startswith(
                ("papers/", "notebooks/", "slides/", "minimal_impls/"))]
            checked.warnings = [x for x in checked.warnings if x.startswith(prefixes)]
        if checked.problems:
            raise PaperclubError("paperclub check found problems, site left unchanged:\n  " +
                                 "\n  ".join(checked.problems))
        report.papers, report.warnings = papers, list(checked.warnings)
        if force is True:
            forced: set[str] | bool = True
        else:
            forced = set(force or [])
            unknown = sorted(forced - {p.slug for p in papers})
            if unknown:
                raise PaperclubError(f"--force: unknown paper slug {unknown[0]!r}")
        log(f"paperclub: {len(papers)} papers; executing notebooks (cache: {project.rel(cache)})")
        results = execute_all({p.slug: project.notebook(p.slug) for p in papers}, project.impls, cache,
                              jobs=jobs, limit_s=limit_s, force=forced,
                              inputs={p.slug: inputs_of(project, p) for p in papers}, log=log)
        report.results = results
        for slug in sorted(results):
            if results[slug].status == "cached":
                log(f"  {slug:<24} {'cached':<9} {results[slug].seconds:6.1f} s (recorded runtime)")
        failed = [r for r in results.values() if not r.ok]
        if failed:
            raise PaperclubError("notebook failed, site left unchanged:\n" +
                                 "\n".join(f"  {r.slug}: {r.error}" for r in sorted(failed, key=lambda r: r.slug)))
        judge(project, papers, results, report)
        for line in report.failed_claims + report.warnings:
            log(f"  warning: {line}")
        if strict and (report.failed_claims or report.warnings):
            raise PaperclubError("claims or numbers cannot be trusted (--strict), site left unchanged:\n  " +
                                 "\n  ".join(report.failed_claims + report.warnings))

        site.parent.mkdir(parents=True, exist_ok=True)
        project.build_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=project.build_dir))
        new_site = Path(tempfile.mkdtemp(prefix=f".{site.name}.new-", dir=site.parent))
        try:
            staging = work / "docs"
            log("paperclub: rendering pages, decks, schedule")
            st = Stage(project, papers, results, staging, today, site_url(project))
            written = stage_docs(st)
            config = mkdocs_config(project, staging, new_site, nav(papers, staging))
            log("paperclub: mkdocs build --strict")
            run_site_engine(config)
            make_search_index_safe(new_site)
            expected = sorted({SiteMap.built(w) for w in written if w.endswith((".md", ".html", ".ics"))})
            problems = audit.audit_site(new_site, expected)
            if problems:
                shown = "\n  ".join(problems[:30]) + (f"\n  … and {len(problems) - 30} more" if len(problems) > 30 else "")
                raise PaperclubError(f"audit failed, site left unchanged:\n  {shown}")
            swap_in(new_site, site)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(new_site, ignore_errors=True)
    report.seconds = time.monotonic() - t0
    report.site = site
    log(f"paperclub: built {project.rel(site)} in {report.seconds:.1f} s")
    return report
