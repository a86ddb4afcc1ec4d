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

import dataclasses
import datetime as dt
import fcntl
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import yaml

from paperclub import audit, fragments as frag, guard, render, schedule, slides
from paperclub.bind import literal_numbers
from paperclub.check import check_project, inputs_of
from paperclub.errors import PaperclubError
from paperclub import execute
from paperclub.execute import NotebookResult, clean_leftovers, execute_all, read_text
from paperclub.layout import Project, SiteMap
from paperclub.papers import Paper

MARKER = guard.SITE_MARKER
WORK_PREFIX = ".paperclub-build-"
HAND_WRITTEN_NAV = [("Running the notebooks", "running-locally.md"), ("Adding a paper", "adding-a-paper.md"),
                    ("Beyond one machine", "cluster.md"), ("Performance", "performance.md")]


@dataclass
class BuildReport:
    papers: list[Paper] = field(default_factory=list)
    results: dict[str, NotebookResult] = field(default_factory=dict)
    failed_claims: list[str] = field(default_factory=list)   # claims that do not hold, are vacuous or fragile
    unswept: list[str] = field(default_factory=list)         # papers with no current sweep ("not re-run")
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
    return [st.write(SiteMap.METRICS, render.metrics_json(st.papers, st.results)),
            st.write(SiteMap.CLAIMS, render.claims_json(st.papers, st.results))]


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
    # no --quiet: it hides the warnings that --strict counts (mkdocs #4126); the INFO lines are filtered here
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines()
                 if ("WARNING" in ln or "ERROR" in ln or "Error" in ln or "Aborted" in ln) and "MkDocs 2.0" not in ln]
        detail = "\n  ".join(lines[:20]) or (proc.stderr.strip()[-1000:] or "no output")
        raise PaperclubError(f"mkdocs build --strict failed:\n  {detail}")


ENGINES = ("mkdocs", "zensical")


def render_site(engine: str, project: Project, staging: Path, new_site: Path, nav_: list,
                log: Callable[[str], None] = print) -> None:
    """Render the staged docs tree into ``new_site`` with the chosen engine (MkDocs or Zensical)."""
    if engine == "mkdocs":
        config = mkdocs_config(project, staging, new_site, nav_)
        log("paperclub: mkdocs build --strict")
        run_site_engine(config)
    elif engine == "zensical":
        log("paperclub: zensical build")
        run_zensical(project, staging, new_site, nav_)
    else:
        raise PaperclubError(f"--engine: expected one of {', '.join(ENGINES)}, got {engine!r}")


def check_engine(engine: str) -> None:
    """Refuse an unknown engine, or Zensical when it is not installed, before any notebook runs."""
    if engine not in ENGINES:
        raise PaperclubError(f"--engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "zensical" and importlib.util.find_spec("zensical") is None:
        raise PaperclubError("--engine zensical: Zensical is not installed in this environment "
                             "(pip install -e '.[zensical]')")


def zensical_dir(project: Project) -> Path:
    """Zensical's fixed work folder: its cache is keyed on the docs folder's path, so a fresh temporary
    folder per build would lose it; the project lock keeps it to one build at a time."""
    return project.build_dir / "zensical"


def sync_tree(src: Path, dest: Path) -> None:
    """Make ``dest`` a copy of ``src``, touching only files whose bytes changed (unchanged files keep
    their modification time, so the engine's cache still knows them) and removing what ``src`` lacks."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(src) for p in src.rglob("*")}
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest)
        if rel not in wanted or path.is_dir() != (src / rel).is_dir() or path.is_symlink():
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for rel in sorted(wanted):
        s, d = src / rel, dest / rel
        if s.is_dir():
            d.mkdir(parents=True, exist_ok=True)
        elif not d.is_file() or d.stat().st_size != s.stat().st_size or d.read_bytes() != s.read_bytes():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s, d)


def run_zensical(project: Project, staging: Path, new_site: Path, nav_: list) -> None:
    """Zensical builds the same staged tree, from a fixed folder (``build/zensical/``): it needs a relative
    ``docs_dir`` and a ``site_dir`` inside the config's folder; its classic look keeps a handout on one page.
    Its output is copied into ``new_site``, which the audit checks and the swap puts in place."""
    root = zensical_dir(project)
    docs, out = root / "docs", root / "site"
    for folder in (project.build_dir, root, docs, out):
        if folder.is_symlink():   # never write into, or delete from, a folder through a symlink
            raise PaperclubError(f"{project.rel(folder)}: is a symlink; paperclub keeps Zensical's work there "
                                 "and never writes through a link (remove it)")
    sync_tree(staging, docs)
    config = mkdocs_config(project, docs, out, nav_)
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    cfg.update(docs_dir="docs", site_dir="site")
    cfg.setdefault("theme", {})["variant"] = "classic"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "zensical", "build", "--strict", "-f", str(config)],
                          capture_output=True, text=True, cwd=root)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise PaperclubError("zensical build --strict failed:\n  " + "\n  ".join(lines[-20:] or ["no output"]))
    shutil.copytree(out, new_site, dirs_exist_ok=True)


def make_search_index_safe(site: Path) -> None:
    """Re-escape what the theme's indexer un-escaped (its previews are HTML): see audit.safe_index_text.
    Covers each engine's index (MkDocs' ``search/search_index.json``, Zensical's ``search.json``)."""
    for index in audit.search_indexes(site):
        _make_index_safe(index)


def _make_index_safe(index: Path) -> None:
    import json

    data = json.loads(index.read_text(encoding="utf-8"))
    once_only(data)
    for doc in audit.index_docs(data):
        for key in ("title", "text"):
            if isinstance(doc.get(key), str):
                doc[key] = audit.safe_index_text(doc[key])
        if isinstance(doc.get("tags"), list):
            doc["tags"] = [audit.safe_index_text(t) if isinstance(t, str) else t for t in doc["tags"]]
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    index.write_text(text, encoding="utf-8")
    script = index.parent / "search_index.js"   # the same index for file:// pages (the offline plugin)
    if index.name == "search_index.json" and script.exists():
        script.write_text(audit.INDEX_SCRIPT_PREFIX + text, encoding="utf-8")


def once_only(data: dict) -> None:
    """Index boilerplate once. Every page loads the whole index, so a paragraph that recurs on every paper
    page (the "run it yourself" box, the implementation page's introduction, the shared helpers' docstrings)
    costs every page ten times over and finds nothing new: a paragraph found on :data:`BOILERPLATE_PAGES`
    pages or more is kept on its first page only. A paragraph on two pages (a paper's TL;DR on its page and
    on the home page's card) stays on both, and no section is dropped (dropping the helpers' repeated
    sections re-ranked Material's results). Works on either engine's index, keeping its own fields."""
    key = "docs" if isinstance(data.get("docs"), list) else "items"
    docs = data.get(key) or []

    def paragraphs(doc: dict) -> list[str]:
        return re.split(r"(?<=</p>) (?=<p>)", doc["text"])

    texts = [d for d in docs if isinstance(d, dict) and isinstance(d.get("text"), str)]
    pages_of: dict[str, set[str]] = {}
    for doc in texts:
        for para in paragraphs(doc):
            pages_of.setdefault(para, set()).add(str(doc.get("location", "")).split("#")[0])
    paras: set[str] = set()
    out = []
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("text"), str):
            kept = [p for p in paragraphs(doc) if not (p in paras and len(pages_of[p]) >= BOILERPLATE_PAGES)]
            paras.update(kept)
            doc = dict(doc, text=" ".join(kept))
        out.append(doc)
    data[key] = out


BOILERPLATE_PAGES = 3   # a paragraph on this many pages or more is boilerplate, indexed on its first page only


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


def check_target(project: Project, site: Path) -> Path:
    """Refuse a ``--site`` that is not paperclub's to replace (see :mod:`paperclub.guard`): never delete a
    folder paperclub did not make, never replace a symbolic link, never write around or into the sources."""
    site = guard.check_folder(project, site, "--site", MARKER, replaced=True, default=project.default_site)
    parent = next((a for a in site.parents if a.exists()), None)
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise PaperclubError(f"--site {site}: cannot write into {parent} (permission denied); choose another folder")
    return site


def _old(site: Path) -> Path:
    return site.with_name(f".{site.name}.old")


def _new_leftover(site: Path) -> re.Pattern:
    # what tempfile.mkdtemp(prefix=f".{site.name}.new-") makes: the prefix and 8 characters from [a-z0-9_]
    return re.compile(rf"^\.{re.escape(site.name)}\.new-[a-z0-9_]{{8}}$")


def remove_tree(path: Path) -> None:
    """Delete a folder paperclub made, read-only subfolders included (a notebook may write one); one clear
    error when even that fails."""
    def writable(func, p, _exc) -> None:
        for q in (Path(p).parent, Path(p)):
            try:
                q.chmod(q.stat().st_mode | stat.S_IRWXU)
            except OSError:
                pass
        func(p)

    if not path.exists() and not path.is_symlink():
        return
    try:
        shutil.rmtree(path, onexc=writable) if sys.version_info >= (3, 12) else shutil.rmtree(path, onerror=writable)
    except OSError as err:
        raise PaperclubError(f"{path}: cannot delete this folder paperclub made ({err.strerror}: {err.filename}); "
                             "remove it by hand") from None


def recover_swap(site: Path) -> None:
    """Finish or undo a swap that a crash interrupted, and remove the half-built sites of killed builds:
    the site folder is never left missing, and nothing is removed that paperclub did not name."""
    old = _old(site)
    if not site.exists() and (old / MARKER).exists():
        old.rename(site)
    elif site.exists() and (old / MARKER).exists():
        remove_tree(old)
    if site.parent.is_dir():
        leftover = _new_leftover(site)
        for p in site.parent.iterdir():
            if leftover.match(p.name) and p.is_dir() and not p.is_symlink():
                remove_tree(p)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where not available."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    return False


def swap_in(new_site: Path, site: Path, stamp: str = "") -> None:
    """Replace ``site`` by ``new_site`` (same parent folder). On Linux the two are exchanged in one atomic
    rename, so a reader (or ``serve``) never finds ``site`` missing; elsewhere: rename the old aside,
    rename the new in, delete the old (a crash between the two renames is repaired by :func:`recover_swap`).
    The new site gets the permissions of a folder made under the user's umask (``mkdtemp`` makes 0700,
    which a web server cannot read). ``stamp`` (the inputs' fingerprint) lets the next build see that
    nothing changed."""
    (new_site / MARKER).write_text("made by paperclub build; paperclub replaces this folder on the next build\n"
                                   + (f"inputs {stamp}\n" if stamp else ""), encoding="utf-8")
    umask = os.umask(0)
    os.umask(umask)
    new_site.chmod(0o777 & ~umask | stat.S_IRWXU)
    if site.is_symlink():
        raise PaperclubError(f"--site {site}: is a symbolic link; refusing to replace it")
    old = _old(site)
    remove_tree(old)
    if site.exists():
        if any(site.iterdir()) and not (site / MARKER).exists():  # checked before; checked again at the last moment
            raise PaperclubError(f"--site {site}: not made by paperclub; refusing to replace it")
        if _exchange(new_site, site):
            _quietly(remove_tree, new_site)   # now the old site; a later build's recover_swap retries
            return
        site.rename(old)
    try:
        os.rename(new_site, site)
    except OSError:
        if old.exists() and not site.exists():
            old.rename(site)
        raise
    _quietly(remove_tree, old)


def _quietly(fn: Callable[[Path], None], path: Path) -> None:
    try:
        fn(path)
    except PaperclubError:
        pass


# --------------------------------------------------------------------------- the pipeline

def fingerprint(project: Project, papers: list[Paper], results: dict[str, NotebookResult], today: dt.date,
                strict: bool, engine: str = "mkdocs") -> str:
    """A hash of everything the rendered site depends on besides the notebooks' runs (named by their keys):
    the paper, deck and hand-written files, the site config, the generator itself, the front-end packages,
    the date (the schedule), the sweeps. Equal to the last build's: nothing to render."""
    import hashlib

    h = hashlib.sha256(f"{today.isoformat()} strict={strict}{'' if engine == 'mkdocs' else ' ' + engine}\0".encode())
    for p in papers:
        res = results[p.slug]
        meta = execute._read_meta(res.run) if res.run else {}
        # the key names the inputs; the run's own times tell a forced re-run of the same inputs apart
        h.update(f"{p.slug}\0{meta.get('key')}\0{meta.get('wall_seconds')}\0{json_dumps(res.sweep)}\0".encode())
    files = [project.mkdocs_yml, project.root / "pyproject.toml", project.root / "package-lock.json",
             *[project.paper(p.slug) for p in papers], *[project.deck(p.slug) for p in papers],
             *[project.impl(p.slug) for p in papers], *[project.notebook(p.slug) for p in papers],
             *sorted(project.impls.glob("*.py")), *sorted(project.docs.rglob("*")),
             *sorted((Path(__file__).parent).rglob("*"))]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(f"\0{f.as_posix()}\0".encode() + f.read_bytes())
    return h.hexdigest()


def json_dumps(value: object) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def with_sweeps(results: dict[str, NotebookResult], cache: Path) -> dict[str, NotebookResult]:
    """Each result with the metrics of its paper's last sweep, when that sweep is current."""
    out = {}
    for slug, res in results.items():
        key = execute._read_meta(res.run).get("key") if res.run is not None else None
        runs = execute.sweep_metrics(cache, slug, key) if key else None
        out[slug] = dataclasses.replace(res, sweep=runs)
    return out


def judge(project: Project, papers: list[Paper], results: dict[str, NotebookResult], report: BuildReport) -> None:
    """Claims that fail, are vacuous or fragile; papers not re-run over seeds; measured numbers typed by
    hand into notes or decks."""
    for p in papers:
        metrics = results[p.slug].metrics
        if p.claims and results[p.slug].sweep is None:
            report.unswept.append(f"{p.label}: not re-run over seeds (run 'paperclub sweep {p.slug}')")
        for v in p.verdicts(metrics, results[p.slug].sweep):
            problem = v.problem()
            if problem and v.missing:
                raise PaperclubError(f"{p.label}: {problem}")
            if problem:
                report.failed_claims.append(f"{p.label}: {problem}")
        # the notes' line numbers count from the top of the file, front matter included
        full = read_text(p.path, p.label) if p.path.exists() else p.body
        texts = [(p.label, p.body, full[:len(full) - len(p.body)].count("\n") if full.endswith(p.body) else 0)]
        if project.deck(p.slug).exists():
            texts.append((project.rel(project.deck(p.slug)), read_text(project.deck(p.slug)), 0))
        fmts = {c.metric: c.fmt for c in p.claims} | {c.control: c.fmt for c in p.claims if c.control}
        for name, text, offset in texts:
            for line, lit, metric in literal_numbers(text, metrics):
                fmt = fmts.get(metric) or (".1%" if lit.rstrip().endswith("%") else None)
                ref = f"{{{{ {metric}:{fmt} }}}}" if fmt else f"{{{{ {metric} }}}}"
                report.warnings.append(f"{name}:{line + offset}: the literal {lit} equals the recorded metric "
                                       f"{metric!r}; write {ref} instead")


def select(project: Project, only: list[str] | None, force: list[str] | bool,
           ) -> tuple[list[Paper], list[str], set[str] | bool]:
    """The papers to work on (all, or ``only``), after ``paperclub check``; its warnings; the forced slugs."""
    checked = check_project(project)
    papers = checked.papers
    known = {p.slug for p in papers} | {f.stem for f in project.papers.glob("*.md")}
    if only:
        unknown = sorted(set(only) - known)
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
    if force is True:
        return papers, list(checked.warnings), True
    forced = set(force or [])
    for slug in sorted(forced - {p.slug for p in papers}):
        if slug in known:
            raise PaperclubError(f"--force: paper {slug!r} is not part of this build (--only "
                                 f"{' '.join(only or [])}); add it to --only")
        raise PaperclubError(f"--force: unknown paper slug {slug!r} (known: {', '.join(sorted(known))})")
    return papers, list(checked.warnings), forced


@dataclass
class SweepReport:
    papers: list[Paper] = field(default_factory=list)
    runs: dict[tuple[str, int], NotebookResult] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)     # fragile, vacuous or failing claims over the seeds
    seconds: float = 0.0


def sweep(project: Project, cache: Path, *, only: list[str] | None = None, seeds: int = execute.DEFAULT_SEEDS,
          force: list[str] | bool = False, jobs: int | None = None, limit_s: int = 300,
          log: Callable[[str], None] = print, wait: bool = False, scheduler: str | None = None,
          shared_cache: str | None = None) -> SweepReport:
    """Run every notebook (or ``only`` some) at seeds 0…``seeds``-1, cached like the build (seed 0 is the
    page's run), and record each paper's sweep so the next build judges every claim on every seed."""
    if not 2 <= seeds <= 50:
        raise PaperclubError(f"--seeds: expected 2 to 50 seeds, got {seeds}")
    t0 = time.monotonic()
    report = SweepReport()
    cache = guard.check_folder(project, cache, "--cache", guard.CACHE_MARKER, default=project.default_cache)
    with project_lock(project, wait=wait):
        guard.claim(cache, guard.CACHE_MARKER, "executed-notebook cache")
        clean_leftovers(cache)
        papers, _, forced = select(project, only, force)
        report.papers = papers
        notebooks = {p.slug: project.notebook(p.slug) for p in papers}
        inputs = {p.slug: inputs_of(project, p) for p in papers}
        versions = execute.library_versions()
        runs, todo = execute.sweep_jobs(notebooks, project.impls, cache, versions, seeds=seeds, inputs=inputs,
                                        force=forced)
        client, store = cluster_for(scheduler, shared_cache)
        gpu = {p.slug for p in papers if p.needs.gpu}
        if gpu and (client is None or not __import__("paperclub.cluster").cluster.gpu_workers(client)):
            held = sorted({j.slug for j in todo if j.slug in gpu})
            if held:
                log(f"  needs a GPU, not swept here: {', '.join(held)} (pass --scheduler with a GPU worker)")
            todo = [j for j in todo if j.slug not in gpu]
        log(f"paperclub sweep: {len(papers)} papers × {seeds} seeds = {len(papers) * seeds} runs; "
            f"{len(runs)} cached, {len(todo)} to run (cache: {project.rel(cache)})")
        try:
            for res in execute.run_jobs(todo, project.impls, cache, jobs=jobs, limit_s=limit_s,
                                        failed_dir=project.failed_dir, log=log, client=client, store=store, gpu=gpu):
                runs[(res.slug, res.seed)] = res
        finally:
            if client is not None:
                client.close()
        report.runs = runs
        failed = sorted((r for r in runs.values() if not r.ok), key=lambda r: (r.slug, r.seed))
        for p in papers:
            if all(runs.get((p.slug, s)) is not None and runs[(p.slug, s)].ok for s in range(seeds)):
                base = execute._read_meta(runs[(p.slug, 0)].run).get("key")
                execute.write_sweep(cache, p.slug, [execute.seeded_key(base, s) for s in range(seeds)])
                metrics = [runs[(p.slug, s)].metrics for s in range(seeds)]
                for v in p.verdicts(metrics[0], metrics):
                    c, sr = v.claim, v.seeds
                    mark = "ok" if v.ok else ("FRAGILE" if v.fragile else "VACUOUS" if v.vacuous else "FAILS")
                    log(f"  {p.slug:<22} {c.metric:<34} {frag.seed_note(v):<26} control "
                        f"{frag.seed_note(v, control=True) if c.control else '—':<22} {mark}")
                    if v.problem():
                        report.problems.append(f"{p.label}: {v.problem()}")
        if failed:
            raise PaperclubError("notebook failed in the sweep:\n" +
                                 "\n".join(f"  {r.slug}: {r.error}" for r in failed))
    report.seconds = time.monotonic() - t0
    import json as _json

    ran = sum(r.status == "executed" for r in runs.values())
    (cache / "sweep").mkdir(parents=True, exist_ok=True)
    (cache / "sweep" / "last.json").write_text(_json.dumps({
        "papers": [p.slug for p in papers], "seeds": seeds, "runs": len(runs), "executed": ran,
        "seconds": round(report.seconds, 1), "date": dt.date.today().isoformat(), "cores": os.cpu_count(),
        "scheduler": scheduler}, indent=2), encoding="utf-8")   # what bench/loop.py reports
    log(f"paperclub sweep: {len(runs)} runs in {report.seconds:.0f} s; "
        + (f"{len(report.problems)} claim(s) not robust over seeds" if report.problems else "every claim held on every seed")
        + "; 'paperclub build' shows the seed ranges")
    return report


def cluster_for(scheduler: str | None, shared: str | None):
    """The Dask client (``--scheduler``) and the shared store (``--cache URL``), each or neither."""
    if not scheduler and not shared:
        return None, None
    from paperclub import cluster

    store = cluster.SharedStore(shared) if shared else None
    client = cluster.connect(scheduler) if scheduler else None
    return client, store


def build(project: Project, site: Path, cache: Path, *, only: list[str] | None = None, strict: bool = False,
          force: list[str] | bool = False, jobs: int | None = None, limit_s: int = 300,
          today: dt.date | None = None, log: Callable[[str], None] = print, wait: bool = False,
          scheduler: str | None = None, shared_cache: str | None = None, engine: str = "mkdocs") -> BuildReport:
    t0 = time.monotonic()
    today = today or dt.date.today()
    report = BuildReport()
    check_engine(engine)
    site = check_target(project, site)
    cache = guard.check_folder(project, cache, "--cache", guard.CACHE_MARKER, default=project.default_cache,
                               others=(site,))
    with project_lock(project, wait=wait):
        guard.claim(cache, guard.CACHE_MARKER, "executed-notebook cache")
        recover_swap(site)
        clean_leftovers(cache)
        for stale in project.build_dir.glob(f"{WORK_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)

        papers, warnings, forced = select(project, only, force)
        report.papers, report.warnings = papers, warnings
        client, store = cluster_for(scheduler, shared_cache)   # an unreachable scheduler: one line, no work done
        log(f"paperclub: {len(papers)} papers; executing notebooks (cache: {project.rel(cache)}"
            + (f", shared: {shared_cache}" if shared_cache else "") + (f", on {scheduler}" if scheduler else "") + ")")
        try:
            results = execute_all({p.slug: project.notebook(p.slug) for p in papers}, project.impls, cache,
                                  jobs=jobs, limit_s=limit_s, force=forced, failed_dir=project.failed_dir,
                                  inputs={p.slug: inputs_of(project, p) for p in papers}, log=log,
                                  client=client, store=store, gpu={p.slug for p in papers if p.needs.gpu})
        finally:
            if client is not None:
                client.close()
        for slug, res in sorted(results.items()):
            if res.status == "stale":
                report.warnings.append(f"papers/{slug}.md: {res.error}")
        results = with_sweeps(results, cache)
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
        if report.unswept:
            unswept = sorted(p.slug for p in papers if p.claims and results[p.slug].sweep is None)
            log(f"  {len(unswept)} paper(s) not re-run over seeds: {', '.join(unswept)} "
                "('paperclub sweep' re-runs them; the claims tables say 'not re-run')")
        if strict and (report.failed_claims or report.warnings or report.unswept):
            raise PaperclubError("claims or numbers cannot be trusted (--strict), site left unchanged:\n  " +
                                 "\n  ".join(report.failed_claims + report.warnings + report.unswept))

        stamp = fingerprint(project, papers, results, today, strict, engine)
        if (site / MARKER).exists() and (site / MARKER).read_text(encoding="utf-8").strip().endswith(stamp):
            report.seconds = time.monotonic() - t0
            report.site = site
            log(f"paperclub: nothing changed since the last build of {project.rel(site)} ({report.seconds:.1f} s)")
            return report
        site.parent.mkdir(parents=True, exist_ok=True)
        project.build_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=project.build_dir))
        new_site = Path(tempfile.mkdtemp(prefix=f".{site.name}.new-", dir=site.parent))
        try:
            staging = work / "docs"
            log("paperclub: rendering pages, decks, schedule")
            st = Stage(project, papers, results, staging, today, site_url(project))
            written = stage_docs(st)
            render_site(engine, project, staging, new_site, nav(papers, staging), log)
            make_search_index_safe(new_site)
            expected = sorted({SiteMap.built(w) for w in written if w.endswith((".md", ".html", ".ics"))})
            problems = audit.audit_site(new_site, expected)
            if problems:
                shown = "\n  ".join(problems[:30]) + (f"\n  … and {len(problems) - 30} more" if len(problems) > 30 else "")
                raise PaperclubError(f"audit failed, site left unchanged:\n  {shown}")
            swap_in(new_site, site, stamp)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(new_site, ignore_errors=True)
    report.seconds = time.monotonic() - t0
    report.site = site
    log(f"paperclub: built {project.rel(site)} in {report.seconds:.1f} s")
    return report
