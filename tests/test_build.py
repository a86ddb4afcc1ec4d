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
    nb.write_text(nb.read_text().replace("result = alpha.run()", "result = alpha.run()\n1 / 0"))
    beta_impl = root / "minimal_impls/beta.py"
    beta_impl.write_text(beta_impl.read_text() + "\n# beta edit\n")
    with pytest.raises(PaperclubError) as info:
        run_build(root)
    msg = str(info.value)
    assert "alpha: notebooks/alpha.py: cell 3 (line 13): ZeroDivisionError: division by zero" in msg, msg
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
