"""The pipeline on small scaffolded projects: scaffold builds, cache hits and invalidation, failures
that leave the last good site intact, claims that do not hold, and the CLI's one-line errors."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from paperclub.build import build
from paperclub.cli import main
from paperclub.errors import PaperclubError
from paperclub.execute import cache_key, dependencies
from paperclub.layout import Project

TODAY = dt.date(2026, 11, 23)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(folder).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


def run_build(root: Path, **kw):
    return build(Project(root), root / "site", root / "build" / "cache", today=TODAY, log=lambda _: None, **kw)


def test_cache_key_follows_imports(project_factory):
    root = project_factory(["alpha"])
    nb, impls = root / "notebooks" / "alpha.py", root / "minimal_impls"
    (impls / "helper.py").write_text("X = 1\n")
    impl = impls / "alpha.py"
    impl.write_text("from .helper import X\n" + impl.read_text())
    assert [d.name for d in dependencies(nb, impls)] == ["alpha.py", "common.py", "helper.py"]
    versions = {"torch": "1"}
    k0 = cache_key(nb, impls, versions)
    (impls / "helper.py").write_text("X = 2\n")            # a transitive dependency changed
    k1 = cache_key(nb, impls, versions)
    (impls / "unrelated.py").write_text("Y = 1\n")         # a module nobody imports
    assert k0 != k1 == cache_key(nb, impls, versions)
    assert cache_key(nb, impls, {"torch": "2"}) != k1      # a library upgrade


def test_scaffold_builds_then_cache_invalidation_and_failure(project_factory):
    root = project_factory(["alpha", "beta"])
    site = root / "site"

    # 1. a fresh scaffold builds as it is, and shows as a draft card
    r1 = run_build(root)
    assert {s: r.status for s, r in r1.results.items()} == {"alpha": "executed", "beta": "executed"}
    home = (site / "index.html").read_text()
    assert "pc-draft" in home and "Paper alpha" in home
    page = (site / "papers/alpha/index.html").read_text()
    assert "pc-holds" in page and "slope_error" in page and 'class="arithmatex"' in page
    assert (site / "papers/alpha/alpha.ipynb").exists() and (site / "slides/alpha/index.html").exists()
    assert json.loads((site / "papers/alpha/alpha.ipynb").read_text())["cells"]

    # 2. nothing changed: nothing runs
    r2 = run_build(root)
    assert {r.status for r in r2.results.values()} == {"cached"}

    # 3. editing alpha's implementation re-executes exactly alpha's notebook
    impl = root / "minimal_impls/alpha.py"
    impl.write_text(impl.read_text() + "\n# an edit\n")
    r3 = run_build(root)
    assert {s: r.status for s, r in r3.results.items()} == {"alpha": "executed", "beta": "cached"}

    # 4. a failing cell names paper, cell and exception; beta still executes; the old site survives
    before = digest(site)
    nb = root / "notebooks/alpha.py"
    nb.write_text(nb.read_text().replace("result = alpha.run(seed=SEED)", "result = alpha.run(seed=SEED)\n1 / 0"))
    beta_impl = root / "minimal_impls/beta.py"
    beta_impl.write_text(beta_impl.read_text() + "\n# beta edit\n")
    with pytest.raises(PaperclubError) as info:
        run_build(root)
    msg = str(info.value)
    lines = nb.read_text().splitlines()
    marker = max(i for i, ln in enumerate(lines[:lines.index("1 / 0")]) if ln.startswith("# %%")) + 1
    assert f"alpha: notebooks/alpha.py: cell 3 (line {marker}): ZeroDivisionError: division by zero" in msg, msg
    assert "1 / 0" in msg and (root / "build/failed/alpha.ipynb").exists()     # the last frames, the failed run kept
    assert digest(site) == before
    assert (root / "build/cache/beta/meta.json").exists()
    meta = json.loads((root / "build/cache/beta/meta.json").read_text())
    assert meta["key"] == cache_key(root / "notebooks/beta.py", root / "minimal_impls")

    # 5. the CLI turns it into one 'error:' line per problem and a non-zero exit
    assert main(["--root", str(root), "build", "--only", "beta", "--today", "2026-11-23"]) == 0


def test_claim_that_does_not_hold_is_shown_and_fails_strict(project_factory, capsys):
    root = project_factory(["gamma"])
    paper = root / "papers/gamma.md"
    paper.write_text(paper.read_text().replace('expect: "< 0.1"', 'expect: "< 0.000001"'))
    report = run_build(root)
    assert report.failed_claims and "claim 'slope_error' does not hold" in report.failed_claims[0]
    assert "pc-fails" in (root / "site/papers/gamma/index.html").read_text()
    before = digest(root / "site")
    with pytest.raises(PaperclubError, match=r"cannot be trusted \(--strict\)"):
        run_build(root, strict=True)
    assert digest(root / "site") == before


def test_vacuous_claim_is_marked_and_fails_strict(project_factory):
    """A claim whose control passes too rules nothing out: a warning, a mark on the page, --strict fails."""
    root = project_factory(["vac"])
    paper = root / "papers/vac.md"
    paper.write_text(paper.read_text().replace('expect: "< 0.1"', 'expect: "< 5"'))  # the naive control (2.0) passes
    report = run_build(root)
    assert any("claim 'slope_error' is vacuous: its control 'naive_slope_error' passes too" in x
               for x in report.failed_claims)
    page = (root / "site/papers/vac/index.html").read_text()
    assert "pc-vacuous" in page and "predict a constant" in page
    with pytest.raises(PaperclubError, match="is vacuous"):
        run_build(root, strict=True)


@pytest.mark.slow
def test_claim_that_fails_on_one_seed_is_fragile(project_factory):
    """A claim that holds on the page's run (seed 0) but not at seed 2: 'not re-run' before a sweep (and
    --strict fails), then after the sweep a fragile mark, a warning, a --strict failure and claims.json."""
    from paperclub.build import sweep

    root = project_factory(["frag", "sturdy"])
    nb = root / "notebooks/frag.py"
    nb.write_text(nb.read_text().replace('paperclub.record("slope_error", result["slope_error"])',
                                         'paperclub.record("slope_error", 0.5 if SEED == 2 else result["slope_error"])'))
    report = run_build(root)
    assert not report.failed_claims and len(report.unswept) == 2
    assert "not re-run" in (root / "site/papers/frag/index.html").read_text()
    with pytest.raises(PaperclubError, match="not re-run over seeds"):
        run_build(root, strict=True)

    swept = sweep(Project(root), root / "build/cache", seeds=3, log=lambda _: None)
    assert swept.runs[("frag", 0)].status == "cached"                 # the page's run is seed 0
    assert {swept.runs[(s, k)].status for s in ("frag", "sturdy") for k in (1, 2)} == {"executed"}
    assert [x for x in swept.problems if "fragile" in x] and "frag.md" in swept.problems[0]

    report = run_build(root)
    assert not report.unswept
    assert any("claim 'slope_error' is fragile: it holds on 2 of 3 seeds" in x for x in report.failed_claims)
    assert not any("sturdy" in x for x in report.failed_claims)
    assert "pc-fragile" in (root / "site/papers/frag/index.html").read_text()
    sturdy = (root / "site/papers/sturdy/index.html").read_text()
    assert "3/3 seeds" in sturdy and "pc-fragile" not in sturdy and "0/3 seeds" in sturdy   # the control fails on all
    claims = json.loads((root / "site/claims.json").read_text())
    entry = claims["frag"]["claims"][0]
    assert set(entry) >= {"metric", "text", "expect", "value", "holds", "control", "control_value", "vacuous", "seeds"}
    assert entry["seeds"]["n"] == 3 and entry["seeds"]["held"] == 2 and entry["seeds"]["max"] == 0.5
    assert claims["sturdy"]["claims"][0]["seeds"]["held"] == 3
    with pytest.raises(PaperclubError, match="is fragile"):
        run_build(root, strict=True)
    # editing the notebook makes the sweep stale again: not re-run, never a stale range
    nb.write_text(nb.read_text() + "\n# an edit\n")
    report = run_build(root)
    assert [x for x in report.unswept if "frag.md" in x] and not [x for x in report.unswept if "sturdy" in x]


@pytest.mark.slow
def test_no_python_is_parsed_off_the_main_thread(project_factory, monkeypatch):
    """CPython 3.11's ast is not thread-safe (gh-106905): a build parses only in the calling thread and
    fans out afterwards (the threads only start subprocesses)."""
    import ast
    import threading

    seen: list[str] = []
    real = ast.parse

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", spy)
    root = project_factory(["one", "two"])
    report = run_build(root, force=True)
    assert {r.status for r in report.results.values()} == {"executed"}
    assert seen, "the spy saw no parse at all: it measures nothing"
    assert set(seen) == {threading.main_thread().name}, sorted(set(seen))


def test_bad_paper_stops_before_touching_the_site(project_factory, capsys):
    root = project_factory(["delta"])
    run_build(root)
    before = digest(root / "site")
    paper = root / "papers/delta.md"
    paper.write_text(paper.read_text().replace("year: 2026", "year: twenty"))
    assert main(["--root", str(root), "build"]) == 1
    err = capsys.readouterr().err
    assert "papers/delta.md: field 'year'" in err and err.startswith("error: paperclub check found problems")
    assert digest(root / "site") == before
    assert main(["--root", str(root), "check"]) == 1


def test_deck_naming_a_missing_figure_is_an_error(project_factory):
    root = project_factory(["eps"])
    deck = root / "slides/eps.md"
    deck.write_text(deck.read_text().replace("figures/fit.png", "figures/nope.png"))
    with pytest.raises(PaperclubError, match=r"slides/eps.md: slide 3: figure 'figures/nope.png' is never saved"):
        run_build(root)


def test_new_refuses_bad_slug_and_overwrites(project_factory, capsys):
    root = project_factory(["zeta"])
    assert main(["--root", str(root), "new", "Again", "--slug", "zeta"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["--root", str(root), "new", "Bad", "--slug", "Bad_Slug"]) == 1
    assert "--slug: must be lowercase" in capsys.readouterr().err
