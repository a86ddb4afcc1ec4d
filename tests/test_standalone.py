"""Self-contained notebooks (paperclub.standalone), the repository setting (paperclub.config) and set-up by need.

Fast tier: the cells that write the implementation files, the stand-in helpers, the config and the
page's links with and without a repository, and the Makefile's set-up (no npm for notebooks).
Slow tier: the build's own run of every paper is the self-contained notebook, executed in an empty folder
by a kernel that could not import the repository's ``minimal_impls`` or ``paperclub``, and the page
offers exactly that executed notebook.
"""
from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paperclub import config as config_mod
from paperclub import standalone
from paperclub.config import Config
from paperclub.errors import PaperclubError

ROOT = Path(__file__).resolve().parent.parent
REPO = Config(repository="https://github.com/example-club/paper-club")


def run_cells(cells: list[str], folder: Path) -> dict:
    """Run code cells the way IPython would (its input transforms first) with ``folder`` as cwd."""
    from IPython.core.inputtransformer2 import TransformerManager

    tm, ns, here = TransformerManager(), {"__name__": "__main__"}, os.getcwd()
    os.chdir(folder)
    try:
        for src in cells:
            exec(compile(tm.transform_cell(src), "<cell>", "exec"), ns)
    finally:
        os.chdir(here)
    return ns


# --------------------------------------------------------------------------- the file-writing cells

TRICKY = [
    "",
    "x = 1\n",
    'def f():\n    """Docstring with \'\'\' inside."""\n    return "\\\\"\n',
    "print('a backslash at the end')\\",
    '"""Example:\n\n>>> f(2)\n4\n... more\n"""\nIn [1]: 2\n',
    "s = r'\\d+'  # a regex\nt = '\\n'\n",
    "ünïcødé = '✔'\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_python_literal_round_trips(text):
    assert ast.literal_eval(standalone.python_literal(text)) == text


@pytest.mark.parametrize("text", TRICKY)
def test_file_cell_writes_the_text_exactly_under_ipython(text, tmp_path):
    cell = standalone.file_cell("minimal_impls/m.py", text)
    assert cell.startswith("#@title Write `minimal_impls/m.py`")
    run_cells([standalone.SETUP, cell], tmp_path)
    written = (tmp_path / "minimal_impls/m.py").read_text(encoding="utf-8")
    body = text if text.endswith("\n") or not text else text + "\n"
    assert written == body + standalone.MARK + "\n"


def test_setup_refuses_to_replace_a_file_it_did_not_write(tmp_path, monkeypatch):
    own = standalone.file_cell("minimal_impls/m.py", "x = 1\n")
    ns = run_cells([standalone.SETUP, own], tmp_path)
    monkeypatch.chdir(tmp_path)
    ns["_write"]("minimal_impls/m.py", "x = 2\n")          # its own file: rewritten
    assert (tmp_path / "minimal_impls/m.py").read_text().startswith("x = 2\n")
    (tmp_path / "minimal_impls/common.py").write_text("# a clone's own source\n")
    with pytest.raises(FileExistsError, match="not written by this notebook"):
        ns["_write"]("minimal_impls/common.py", "x = 3\n")
    assert (tmp_path / "minimal_impls/common.py").read_text() == "# a clone's own source\n"


def test_module_files_follow_imports_transitively():
    files = standalone.module_files(ROOT / "notebooks/clip.py", ROOT / "minimal_impls")
    assert list(files)[0] == "minimal_impls/__init__.py"
    assert {"minimal_impls/clip.py", "minimal_impls/vit.py", "minimal_impls/common.py"} <= set(files)
    assert files["minimal_impls/vit.py"] == (ROOT / "minimal_impls/vit.py").read_text(encoding="utf-8")
    assert "minimal_impls/vae.py" not in files


def test_public_packages_names_pip_packages_not_stdlib_or_project():
    src = "import math, json\nimport torch\nfrom sklearn.datasets import x\nimport skimage.data\n" \
          "from PIL import Image\nimport paperclub\nfrom minimal_impls import vae\nimport numpy as np\n"
    assert standalone.public_packages([src]) == ["torch", "numpy", "scikit-learn", "scikit-image", "pillow"]


# --------------------------------------------------------------------------- the runtime it writes

@pytest.fixture
def stand_in(tmp_path):
    """The ``paperclub`` package a self-contained notebook writes, imported from its own folder."""
    import importlib

    for path, text in standalone.runtime_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    saved = {k: v for k, v in sys.modules.items() if k == "paperclub" or k.startswith("paperclub.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(tmp_path))
    try:
        mod = importlib.import_module("paperclub")
        assert Path(mod.__file__).parent == tmp_path / "paperclub"      # the written copy, not the project
        yield mod
    finally:
        sys.path.remove(str(tmp_path))
        for k in [k for k in sys.modules if k == "paperclub" or k.startswith("paperclub.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def test_written_runtime_is_the_sites_own():
    files = standalone.runtime_files()
    assert files["paperclub/runtime.py"] == (ROOT / "paperclub/runtime.py").read_text(encoding="utf-8")
    assert files["paperclub/rundir.py"] == (ROOT / "paperclub/rundir.py").read_text(encoding="utf-8")
    # standard library only at import time: a notebook needs no paperclub install
    for text in files.values():
        top = {n.names[0].name.split(".")[0] if isinstance(n, ast.Import) else (n.module or "").split(".")[0]
               for n in ast.parse(text).body if isinstance(n, (ast.Import, ast.ImportFrom))}
        assert top <= set(sys.stdlib_module_names) | {"paperclub", "__future__"}, top


def test_stand_in_record_prints_numbers_and_refuses_the_rest(stand_in, capsys, monkeypatch):
    import numpy as np
    import torch

    monkeypatch.delenv("PAPERCLUB_RUN_DIR", raising=False)
    assert stand_in.record("acc", 0.87777777) == 0.87777777
    assert stand_in.record("steps", np.int64(12)) == 12
    t = torch.tensor(0.5)
    assert stand_in.record("loss", t) is t
    stand_in.record("ok", True)
    assert capsys.readouterr().out.splitlines() == ["recorded acc = 0.8778", "recorded steps = 12",
                                                    "recorded loss = 0.5", "recorded ok = True"]
    for bad in ("text", None, float("nan"), [1, 2]):
        with pytest.raises(ValueError, match="record"):
            stand_in.record("x", bad)
    with pytest.raises(ValueError, match="identifier"):
        stand_in.record("not a name", 1)


def test_stand_in_seed_reads_the_run_contract(stand_in, monkeypatch):
    monkeypatch.delenv("PAPERCLUB_SEED", raising=False)
    assert stand_in.seed() == 0
    monkeypatch.setenv("PAPERCLUB_SEED", "3")
    assert stand_in.seed() == 3
    monkeypatch.setenv("PAPERCLUB_SEED", "three")
    with pytest.raises(ValueError, match="PAPERCLUB_SEED"):
        stand_in.seed()


def test_stand_in_savefig_and_animation(stand_in, tmp_path, monkeypatch):
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.delenv("PAPERCLUB_RUN_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    fig, _ = plt.subplots()
    assert stand_in.savefig(fig, "fit") is None
    plt.close(fig)
    assert sorted(tmp_path.rglob("*")) == before   # nothing written
    with pytest.raises(ValueError, match="figure name"):
        stand_in.savefig(None, "Bad Name")
    frames = [np.full((8, 8, 3), i * 20, dtype=np.uint8) for i in range(4)]
    assert stand_in.show_animation(frames, "walk", fps=4, width=16)[:6] == b"GIF89a"
    with pytest.raises(ValueError, match="empty"):
        stand_in.show_animation([], "walk")


# --------------------------------------------------------------------------- the notebook

def test_self_contained_notebook_layout():
    nb = standalone.make_notebook("quadruped-ik", ROOT / "notebooks/quadruped-ik.py", ROOT / "minimal_impls",
                                  config=REPO, title="Quadruped IK")
    intro, setup = nb.cells[0], nb.cells[1]
    assert intro.cell_type == "markdown" and "self-contained" in intro.source
    assert "pip install torch" in intro.source and "example-club/paper-club" in intro.source
    writes = nb.metadata["paperclub"]["writes"]
    assert writes[0] == "minimal_impls/__init__.py" and writes[-3:] == list(standalone.runtime_files())
    assert {"minimal_impls/quadruped_ik.py", "minimal_impls/common.py"} <= set(writes)
    file_cells = nb.cells[2:2 + len(writes)]
    assert [re.search(r"`([^`]+)`", c.source).group(1) for c in file_cells] == writes
    assert all(c.metadata["cellView"] == "form" for c in [setup, *file_cells])
    sources = standalone.module_files(ROOT / "notebooks/quadruped-ik.py", ROOT / "minimal_impls")
    sources.update(standalone.runtime_files())
    for cell in file_cells:                        # each cell carries its source exactly
        path, text = (ast.literal_eval(a) for a in ast.parse(cell.source).body[0].value.args)
        assert text == sources[path], path
    # the notebook itself follows, unchanged
    import jupytext

    own = jupytext.read(ROOT / "notebooks/quadruped-ik.py", fmt="py:percent")
    assert [c.source for c in nb.cells[2 + len(writes):]] == [c.source for c in own.cells]
    # without a repository, the intro names none
    bare = standalone.make_notebook("quadruped-ik", ROOT / "notebooks/quadruped-ik.py", ROOT / "minimal_impls")
    assert "github.com" not in bare.cells[0].source


def test_executed_outputs_are_kept_only_when_they_belong_to_the_source(tmp_path):
    import jupytext
    import nbformat

    src = ROOT / "notebooks/quadruped-ik.py"
    done = jupytext.read(src, fmt="py:percent")
    code = next(c for c in done.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="from the build\n")]
    nbformat.write(done, tmp_path / "notebook.ipynb")
    nb = standalone.make_notebook("quadruped-ik", src, ROOT / "minimal_impls", executed=tmp_path / "notebook.ipynb")
    assert "from the build" in json.dumps(nb) and "site's own run" in nb.cells[0].source
    code.source += "\n# edited since"
    nbformat.write(done, tmp_path / "notebook.ipynb")
    nb = standalone.make_notebook("quadruped-ik", src, ROOT / "minimal_impls", executed=tmp_path / "notebook.ipynb")
    assert "from the build" not in json.dumps(nb) and "site's own run" not in nb.cells[0].source


# --------------------------------------------------------------------------- config and links

def test_config_reads_tool_paperclub(tmp_path):
    assert config_mod.load(tmp_path) == Config()                     # no pyproject at all
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert config_mod.load(tmp_path).repository is None
    (tmp_path / "pyproject.toml").write_text(
        '[tool.paperclub]\nrepository = "https://github.com/example-club/paper-club.git"\n')
    cfg = config_mod.load(tmp_path)
    assert cfg.repository == "https://github.com/example-club/paper-club" and cfg.notebooks_ref == "gh-pages"
    assert cfg.colab_url("papers/vae/vae.ipynb") == ("https://colab.research.google.com/github/"
                                                      "example-club/paper-club/blob/gh-pages/papers/vae/vae.ipynb")
    assert cfg.source_url("minimal_impls/vae.py") == \
        "https://github.com/example-club/paper-club/blob/main/minimal_impls/vae.py"


@pytest.mark.parametrize("table, field", [
    ({"repository": "https://gitlab.com/a/b"}, "repository"),
    ({"repository": "javascript:alert(1)"}, "repository"),
    ({"repository": "https://github.com/a/b", "branch": "x y"}, "branch"),
    ({"repo_url": "https://github.com/a/b"}, "repo_url"),
])
def test_config_errors_name_the_setting(table, field):
    with pytest.raises(PaperclubError, match=rf"pyproject.toml: \[tool.paperclub\] {field}"):
        config_mod.parse(table)


def test_the_projects_own_pyproject_is_valid():
    config_mod.load(ROOT)


def test_links_appear_exactly_when_a_repository_is_configured():
    assert standalone.page_links("vae", Config()) == ""
    links = standalone.page_links("vae", REPO)
    assert "[Open in Colab](https://colab.research.google.com/github/example-club/paper-club/blob/gh-pages/" \
           "papers/vae/vae.ipynb)" in links
    assert "[Repository](https://github.com/example-club/paper-club)" in links
    assert "![" not in links                       # a link, never an image the browser would load
    assert standalone.site_path("vae") == __import__("paperclub.layout").layout.SiteMap.ipynb("vae")


def test_paper_page_offers_the_self_contained_notebook_and_links(project_factory):
    """The page hook: the download is self-contained; Colab/repository links follow the setting."""
    from paperclub import render
    from paperclub.execute import NotebookResult
    from paperclub.layout import Project, SiteMap
    from paperclub.papers import load_papers

    root = project_factory(["alpha"])
    project = Project(root)
    paper = load_papers(project.papers)[0]
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b", paper.path.read_text()))   # every name it may reference
    result = NotebookResult("alpha", "cached", 1.0, None, None, {n: 0.01 for n in names})
    page = render.paper_page(paper, result, project, {"alpha": paper})
    nb = json.loads(page.blobs[SiteMap.ipynb("alpha")])
    assert nb["metadata"]["paperclub"]["self_contained"]
    assert "minimal_impls/alpha.py" in nb["metadata"]["paperclub"]["writes"]
    assert "colab.research" not in page.markdown and "github.com" not in page.markdown
    (root / "pyproject.toml").write_text('[tool.paperclub]\nrepository = "https://github.com/example-club/pc"\n')
    md = render.paper_page(paper, result, project, {"alpha": paper}).markdown
    colab = "(https://colab.research.google.com/github/example-club/pc/blob/gh-pages/papers/alpha/alpha.ipynb)"
    assert md.count(colab) == 2 and md.count("[Repository](https://github.com/example-club/pc)") == 2
    assert "![" not in "".join(ln for ln in md.splitlines() if "colab" in ln)   # links, never loads


def test_workflow_rebuilds_weekly_and_no_repo_url_in_mkdocs():
    import yaml

    flow = yaml.safe_load((ROOT / ".github/workflows/pages.yml").read_text())
    triggers = flow.get("on", flow.get(True))                       # YAML 1.1 reads `on:` as True
    assert any("cron" in s for s in triggers["schedule"])
    assert "repo_url" not in yaml.safe_load((ROOT / "mkdocs.yml").read_text())   # it would fetch GitHub stats


# --------------------------------------------------------------------------- set-up by need

def _path_without_node(tmp: Path) -> str:
    """A PATH with every program of the current one except Node.js and npm."""
    hidden = {"npm", "npx", "node", "nodejs", "corepack"}
    bin_dir = tmp / "bin-without-node"
    bin_dir.mkdir(exist_ok=True)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not Path(d).is_dir():
            continue
        for f in Path(d).iterdir():
            if f.name not in hidden and not (bin_dir / f.name).exists() and os.access(f, os.X_OK) and f.is_file():
                (bin_dir / f.name).symlink_to(f)
    return str(bin_dir)


def _make(args: list[str], cwd: Path, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", *args], cwd=cwd, env=dict(os.environ, PATH=path), capture_output=True,
                          text=True, timeout=300)


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
def test_notebooks_and_lab_set_up_python_only(tmp_path):
    """Even from scratch (-B: every target out of date), `make notebooks` and `make lab` run no npm."""
    path = _path_without_node(tmp_path)
    assert shutil.which("npm", path=path) is None
    for target in ("notebooks", "lab", "check"):
        plan = _make(["-n", "-B", target], ROOT, path)
        assert plan.returncode == 0, plan.stderr
        assert "npm" not in plan.stdout and "pip install" in plan.stdout, (target, plan.stdout)
    site = _make(["-n", "-B", "site"], ROOT, path)
    assert "npm ci" in site.stdout                       # the site still installs KaTeX/reveal.js


@needs_make
@pytest.mark.slow
def test_make_notebooks_runs_with_npm_hidden(tmp_path):
    """The real target, in a copy of the project whose Python set-up is done, with no npm on PATH."""
    work = tmp_path / "proj"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml", "package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, work / name)
    shutil.copytree(ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns("*.ipynb", ".*"))
    shutil.copytree(ROOT / "papers", work / "papers")
    (work / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    if not (ROOT / ".venv/.installed").exists():
        pytest.skip("the project's .venv is not set up by make")
    os.utime(work / "pyproject.toml", (0, 0))       # the copy is older than the stamp: Python set-up done
    got = _make(["notebooks"], work, _path_without_node(tmp_path))
    assert got.returncode == 0, got.stdout + got.stderr
    assert "npm" not in got.stdout + got.stderr
    made = sorted(p.name for p in (work / "notebooks").glob("*.ipynb"))
    assert made == sorted(p.with_suffix(".ipynb").name for p in (work / "notebooks").glob("*.py"))
    assert not (work / "node_modules").exists()


# --------------------------------------------------------------------------- slow: every paper, isolated

SLUGS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))


@pytest.mark.slow
@pytest.mark.xdist_group("site")
@pytest.mark.parametrize("slug", SLUGS)
def test_the_build_ran_the_self_contained_notebook_in_isolation(slug, built_site):
    """The build executes the download itself: the self-contained notebook, in an empty folder, in a kernel
    that could import neither the project's implementation nor paperclub before the notebook wrote them.
    The page offers exactly that executed notebook."""
    import nbformat

    site, report = built_site
    result = report.results[slug]
    assert result.ok and result.run is not None, result.error
    prov = json.loads((result.run.path / "provenance.json").read_text())
    assert prov["importable_before"] == [], prov            # nothing of the project was importable at the start
    assert prov["minimal_impls"] == "work/minimal_impls/__init__.py", prov
    assert prov["paperclub"] == "work/paperclub/__init__.py", prov
    assert "/.paperclub-kernel/venv/" in prov["python"], prov   # the throwaway venv without the project
    ran = nbformat.read(result.run.notebook, as_version=4)
    offered = nbformat.read(site / "papers" / slug / f"{slug}.ipynb", as_version=4)
    code = lambda nb: [(c.source, json.dumps(c.get("outputs", []), sort_keys=True))   # noqa: E731
                       for c in nb.cells if c.cell_type == "code"]
    assert code(offered) == code(ran)                       # the download is what ran, outputs and all
    assert offered.metadata["paperclub"]["self_contained"] is True
    work = result.run.path / "work"
    # each file it wrote is exactly the text its cell carries, and nothing else was written
    for cell in ran.cells:
        call = ast.parse(cell.source).body[0].value if cell.source.startswith("#@title Write") else None
        if call is not None:
            path, text = (ast.literal_eval(arg) for arg in call.args)
            assert (work / path).read_text(encoding="utf-8") == text + standalone.MARK + "\n", path
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*.py")) == \
        sorted(offered.metadata["paperclub"]["writes"])
