"""Self-contained notebooks: the ``.ipynb`` a paper page offers runs in an empty folder, anywhere.

A notebook in ``notebooks/<slug>.py`` imports ``paperclub`` (three small helpers) and ``minimal_impls``
modules; neither comes with a downloaded ``.ipynb``. The notebook made here starts with a few set-up
cells that write those files into the folder it runs in:

1. a Markdown cell saying what it is, the repository (when configured) and the pip line;
2. a cell per implementation file it imports, followed transitively (``common.py``, and other
   papers' modules: CLIP imports ViT), written to ``minimal_impls/<name>.py``;
3. the notebook runtime as a tiny ``paperclub`` package: the very ``paperclub/runtime.py`` and
   ``paperclub/rundir.py`` the site uses (standard library only). Run by hand, ``record`` prints,
   ``savefig`` does nothing (figures show inline) and ``show_animation`` shows a GIF; run by the build
   (which names a run folder), they record the metrics and figures the page shows.

The rest of the notebook is unchanged. The build executes exactly this notebook, in an empty folder with
only public packages importable (:mod:`paperclub.execute`), and the page offers that executed copy: the
download is what ran. It needs no clone, no installed paperclub, no network, no Node.

The functions here read sources and return a notebook, bytes or Markdown; only :func:`write_notebook`
writes a file.
"""
from __future__ import annotations

import ast
import functools
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable

from paperclub.config import Config
from paperclub.execute import PACKAGE, dependencies

# the last line of every file a notebook writes: re-running the notebook may overwrite such a file,
# but never one without it (a clone's own sources, say)
MARK = "# (written by a paperclub self-contained notebook; running it again rewrites this file)"

# import name → the name pip installs it by, for the libraries the season uses
PIP_NAMES = {"sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "pillow", "cv2": "opencv-python-headless",
             "yaml": "PyYAML"}
ORDER = ("torch", "numpy", "scipy", "matplotlib", "scikit-learn", "scikit-image", "pillow")
# imports a Jupyter kernel brings with it: not worth a line in the pip command
KERNEL = {"IPython", "ipykernel", "matplotlib_inline", "ipywidgets"}


# --------------------------------------------------------------------------- what the notebook needs

def module_files(notebook: Path, impl_dir: Path) -> dict[str, str]:
    """``minimal_impls/…`` path → source, for every module the notebook imports (transitively).

    ``__init__.py`` comes first, then the modules in name order (import order does not matter: the
    files are all written before the notebook's own first cell runs)."""
    files: dict[str, str] = {}
    init = impl_dir / "__init__.py"
    files[f"{PACKAGE}/__init__.py"] = (init.read_text(encoding="utf-8") if init.exists()
                                       else '"""Reference implementations."""\n')
    for dep in dependencies(notebook, impl_dir):
        files[f"{PACKAGE}/{dep.name}"] = dep.read_text(encoding="utf-8")
    return files


def _top_level_imports(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def public_packages(sources: Iterable[str]) -> list[str]:
    """The pip names of the outside libraries a set of Python sources imports, most important first."""
    names: set[str] = set()
    for src in sources:
        names |= _top_level_imports(src)
    names -= set(sys.stdlib_module_names) | {PACKAGE, "paperclub", "__future__"} | KERNEL
    pip = {PIP_NAMES.get(n) or _distribution_of(n) for n in names}
    return sorted(pip, key=lambda p: (ORDER.index(p) if p in ORDER else len(ORDER), p.lower()))


@functools.lru_cache(maxsize=None)
def _distribution_of(name: str) -> str:
    """The distribution that installs import ``name`` (usually the same name; the full scan is slow)."""
    try:
        metadata.distribution(name)
        return name
    except metadata.PackageNotFoundError:
        pass
    try:
        return (metadata.packages_distributions().get(name) or [name])[0]
    except Exception:  # pragma: no cover - broken metadata should not stop a build
        return name


def pip_line(packages: list[str]) -> str:
    return "pip install " + " ".join(packages) if packages else ""


def tested_versions(packages: list[str]) -> str:
    """``torch 2.13.0, numpy 2.4.6, …``: the versions the build ran with (where installed)."""
    out = []
    for p in packages:
        try:
            out.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


# --------------------------------------------------------------------------- the files, as cells

def python_literal(text: str) -> str:
    """A string literal that evaluates to exactly ``text``, as readable as possible.

    A raw triple-quoted string shows the code as it is; when ``text`` cannot be written that way
    (it holds ``'''`` or ends in a backslash), one quoted line per source line."""
    literal = f"r'''{text}'''"
    if "'''" not in text and not text.endswith("\\"):
        try:
            if ast.literal_eval(literal) == text:
                return literal
        except (SyntaxError, ValueError):
            pass
    lines = text.splitlines(keepends=True) or [""]
    return "(\n" + "".join(f"    {line!r}\n" for line in lines) + ")"


def _ipython_keeps(cell: str) -> bool:
    """Whether IPython runs ``cell`` as the plain Python it is (it strips ``>>>`` prompts, for one)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - ipykernel brings IPython with it
        return True
    return TransformerManager().transform_cell(cell).rstrip("\n") == cell.rstrip("\n")


def file_cell(path: str, text: str) -> str:
    """The source of a code cell that writes ``text`` (plus the mark) to ``path``."""
    body = text if text.endswith("\n") or not text else text + "\n"
    n = len(body.splitlines())
    head = f"#@title Write `{path}` ({n} line{'s' if n != 1 else ''})\n_write({path!r},\n"
    cell = head + python_literal(body) + ")"
    if not _ipython_keeps(cell):  # e.g. a '>>>' line inside a docstring: quote every line instead
        lines = body.splitlines(keepends=True)
        cell = head + "(\n" + "".join(f"    {line!r}\n" for line in lines) + "))"
    if ast.literal_eval(cell.split("\n", 2)[2][:-1]) != body:  # pragma: no cover - guarded by the tests
        raise AssertionError(f"{path}: the notebook would not write the file exactly")
    return cell


SETUP = f'''#@title Set-up: where the files go (run the set-up cells first)
# The next cells write the implementation this notebook imports (`minimal_impls/`) and a small
# package of the site's notebook helpers (`paperclub/`) into the current folder.
import importlib
import os
import sys
from pathlib import Path

MARK = {MARK!r}


def _write(path, text):
    """Write one file; refuse to replace a file this notebook did not write (a clone's own sources)."""
    target = Path(path)
    text = text + MARK + "\\n"
    if target.exists() and target.read_text(encoding="utf-8") != text \\
            and not target.read_text(encoding="utf-8").rstrip().endswith(MARK):
        raise FileExistsError(f"{{target.resolve()}} exists and was not written by this notebook: "
                              "run the notebook in an empty folder (or delete that file)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


if os.getcwd() not in sys.path and "" not in sys.path:
    sys.path.insert(0, os.getcwd())   # Jupyter and Colab have the notebook's folder on the path already
importlib.invalidate_caches()'''

# The notebook runtime the set-up cells write: the site's own two modules, and an __init__ that exports
# the helpers (not the generator's __init__, which imports the rest of paperclub).
RUNTIME_INIT = '''"""The paper club's notebook helpers (the same code the site's build runs with).

record(name, value) prints a figure the site's claims table shows; savefig(fig, name) keeps a figure
when the site's build runs the notebook (it shows inline anyway); seed() is the run's seed (0 unless
the PAPERCLUB_SEED environment variable says otherwise); show_animation(frames, name) shows a GIF.
"""
from paperclub.runtime import device, record, savefig, seed, show_animation

__all__ = ["device", "record", "savefig", "seed", "show_animation"]
'''


def runtime_files() -> dict[str, str]:
    """``paperclub/…`` path → source of the runtime a self-contained notebook writes."""
    here = Path(__file__).parent
    return {"paperclub/__init__.py": RUNTIME_INIT,
            "paperclub/rundir.py": (here / "rundir.py").read_text(encoding="utf-8"),
            "paperclub/runtime.py": (here / "runtime.py").read_text(encoding="utf-8")}


# --------------------------------------------------------------------------- the notebook

def _hidden(source: str, cell_id: str):
    """A code cell that JupyterLab shows collapsed and Colab shows as its ``#@title``."""
    import nbformat

    cell = nbformat.v4.new_code_cell(source, id=cell_id)
    cell.metadata.update({"cellView": "form", "jupyter": {"source_hidden": True}})
    return cell


def intro_markdown(slug: str, title: str, files: list[str], packages: list[str], config: Config,
                   seconds: float | None = None, outputs: bool = False) -> str:
    from paperclub.fragments import text

    title = text(title)   # front matter: no HTML, no Markdown syntax (Jupyter and nbconvert render both)
    lines = [f"# {title}: self-contained notebook", "",
             f"The paper club's notebook for *{title}*, made to run anywhere: in Colab, JupyterLab or "
             "VS Code, in an empty folder, with no network access. It needs no clone of the repository and no `paperclub` "
             "package: the set-up cells below write what it imports into the folder it runs in:", "",
             "- " + ", ".join(f"`{f}`" for f in files) + ": the reference implementation, exactly as "
             "in the repository when the site was built;",
             "- `paperclub/`: the site's notebook helpers (`record` prints a figure, `savefig` keeps it only "
             "when the site's build runs the notebook, `seed` is the run's seed, `show_animation` shows a GIF).",
             ""]
    if packages:
        lines += [f"It needs only public packages (Colab has them all): `{pip_line(packages)}`"
                  + (f" (the site's run used {tested_versions(packages)})." if tested_versions(packages) else "."),
                  ""]
    if config.slug:
        lines += [f"Repository: [{config.slug}]({config.repository}) · sources of this notebook: "
                  f"[`notebooks/{slug}.py`]({config.source_url(f'notebooks/{slug}.py')})", ""]
    run = f" It runs top to bottom in about {seconds:.0f} s on a laptop CPU." if seconds else ""
    lines += [f"**Run all** (Colab: *Runtime → Run all*).{run}"
              + (" The outputs already shown are from the site's own run of this notebook." if outputs else "")]
    return "\n".join(lines)


def _same_text(a, b) -> bool:
    return [(c.cell_type, c.source) for c in a.cells] == [(c.cell_type, c.source) for c in b.cells]


def make_notebook(slug: str, source: Path, impl_dir: Path, *, executed: Path | None = None,
                  config: Config | None = None, title: str | None = None, seconds: float | None = None):
    """The self-contained notebook (an ``nbformat`` node) for ``source`` (``notebooks/<slug>.py``).

    ``executed`` is the build's executed copy; its outputs are kept when its cells are the source's
    cells (the build guarantees it through the cache key; a stale copy is ignored)."""
    import jupytext
    import nbformat

    config = config or Config()
    text = source.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    outputs = False
    if executed is not None and Path(executed).exists():
        done = nbformat.read(executed, as_version=4)
        if _same_text(done, nb):
            nb, outputs = done, True
    files = module_files(source, impl_dir)
    packages = public_packages([text, *files.values()])
    title = title or slug
    cells = [nbformat.v4.new_markdown_cell(intro_markdown(slug, title, list(files), packages, config, seconds,
                                                          outputs),
                                           id="pc-about"),
             _hidden(SETUP, "pc-setup")]
    for i, (path, src) in enumerate(files.items()):
        cells.append(_hidden(file_cell(path, src), f"pc-file-{i}"))
    for j, (path, src) in enumerate(runtime_files().items()):
        cells.append(_hidden(file_cell(path, src), f"pc-runtime-{j}"))
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    out = nbformat.v4.new_notebook(cells=cells + list(nb.cells))
    out.metadata.update({
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "colab": {"name": f"{slug}.ipynb", "provenance": []},
        "paperclub": {"slug": slug, "self_contained": True, "writes": list(files) + list(runtime_files()),
                      "packages": packages},
    })
    nbformat.validate(out)
    return out


def write_notebook(dest: Path, slug: str, source: Path, impl_dir: Path, **kw) -> Path:
    """Write :func:`make_notebook`'s notebook to ``dest``."""
    import nbformat

    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(make_notebook(slug, source, impl_dir, **kw), dest)
    return dest


def page_notebook(project, paper, result) -> bytes:
    """The page's download (``papers/<slug>/<slug>.ipynb``) as bytes: the render hook.

    ``project`` has ``root``, ``notebooks`` and ``impls``; ``result`` is the paper's ``NotebookResult``
    (its run folder's executed notebook gives the outputs)."""
    import nbformat

    from paperclub import config as config_mod

    run = getattr(result, "run", None)
    config = config_mod.load(project.root)
    executed = run.notebook if run is not None else None
    if executed is not None and executed.exists():
        # the notebook that ran, outputs and all; only its introduction is rewritten (title, runtime, links)
        nb = nbformat.read(executed, as_version=4)
        meta = nb.metadata.get("paperclub", {})
        meta.pop("source", None)
        files = [w for w in meta.get("writes", []) if w.startswith(PACKAGE + "/")]
        intro = intro_markdown(paper.slug, paper.title, files, list(meta.get("packages", [])), config,
                               result.seconds or None, outputs=True)
        for cell in nb.cells:
            if cell.get("id") == "pc-about":
                cell.source = intro
    else:
        nb = make_notebook(paper.slug, project.notebooks / f"{paper.slug}.py", project.impls, config=config,
                           title=paper.title, seconds=result.seconds or None)
    return (nbformat.writes(nb) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- the page's links

def site_path(slug: str) -> str:
    """Where the self-contained notebook lives in the built site and on the published branch."""
    from paperclub.layout import SiteMap

    return SiteMap.ipynb(slug)


def page_links(slug: str, config: Config) -> str:
    """``[Open in Colab](…) · [Repository](…)`` when a repository is configured, else ``""``.

    Plain links: the browser loads nothing from them (no badge image), so the offline audit holds."""
    if not config.slug:
        return ""
    return f"[Open in Colab]({config.colab_url(site_path(slug))}) · [Repository]({config.repository})"


def with_links(header: list[str], slug: str, project) -> list[str]:
    """A page header's lines with :func:`links` placed inside its metadata box (its first ``</div>``),
    or appended when it has none."""
    extra = links(slug, project)
    if not extra:
        return header
    at = header.index("</div>") if "</div>" in header else len(header)
    return header[:at] + extra + header[at:]


def links(slug: str, project, indent: str = "") -> list[str]:
    """Markdown lines with :func:`page_links` for a page (none without a configured repository)."""
    from paperclub import config as config_mod

    text = page_links(slug, config_mod.load(project.root))
    return [f"{indent}**Run it elsewhere:** {text}", ""] if text else []


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a convenience for authors
    """``python -m paperclub.standalone SLUG [OUT]``: write one self-contained notebook from this clone."""
    import argparse

    from paperclub import config as config_mod

    ap = argparse.ArgumentParser(prog="python -m paperclub.standalone")
    ap.add_argument("slug")
    ap.add_argument("out", nargs="?", type=Path, default=None, help="default: build/standalone/<slug>.ipynb")
    ap.add_argument("--root", type=Path, default=Path.cwd())
    ap.add_argument("--cache", type=Path, default=None, help="executed notebooks (default: build/cache)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    cache = args.cache or root / "build" / "cache"
    out = args.out or root / "build" / "standalone" / f"{args.slug}.ipynb"
    paper = root / "papers" / f"{args.slug}.md"
    title = None
    if paper.exists():
        from paperclub.papers import parse_paper

        title = parse_paper(paper).title
    write_notebook(out, args.slug, root / "notebooks" / f"{args.slug}.py", root / "minimal_impls",
                   executed=cache / args.slug / "notebook.ipynb", config=config_mod.load(root), title=title)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
