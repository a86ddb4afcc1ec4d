"""The second site engine: ``paperclub build --engine zensical`` builds the same staged tree as MkDocs and
gets the same audit. Fast tests check the audit's search-index rules for both engines' index files; the
slow test builds a scaffolded project with Zensical (``make test`` builds the real site with MkDocs in the
end-to-end tests, so the slow tier exercises both engines)."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
from pathlib import Path

import pytest

from paperclub.layout import SiteMap
from paperclub import audit
from paperclub.build import build, check_engine, make_search_index_safe, sync_tree
from paperclub.cli import parser
from paperclub.errors import PaperclubError
from paperclub.layout import Project

TODAY = dt.date(2026, 11, 23)
PAGE = ('<html><div class="md-search" data-md-component="search"></div>'
        '<script src="assets/javascripts/bundle.js"></script></html>')


def small_site(tmp_path: Path, index: str | None, docs: list[dict]) -> Path:
    site = tmp_path / "site"
    (site / "assets/javascripts").mkdir(parents=True)
    (site / "assets/javascripts/bundle.js").write_text("//")
    (site / "index.html").write_text(PAGE)
    if index is not None:
        key = "items" if index == "search.json" else "docs"
        (site / index).parent.mkdir(parents=True, exist_ok=True)
        (site / index).write_text(json.dumps({"config": {}, key: docs}))
    return site


DOC = {"location": "", "title": "Home", "text": "<p>plain</p>"}


@pytest.mark.parametrize("index", ["search/search_index.json", "search.json"])
def test_audit_reads_either_engines_index(tmp_path, index):
    site = small_site(tmp_path, index, [DOC])
    assert audit.audit_site(site) == []
    # markup the generator did not write is found in either engine's index, and made safe by the build
    (site / index).write_text(json.dumps({"config": {}, "items" if index == "search.json" else "docs":
                                          [dict(DOC, text='<img src=x onerror="alert(1)">')]}))
    assert any(p.startswith(f"{index}: : text carries markup") for p in audit.audit_site(site))
    make_search_index_safe(site)
    assert audit.audit_site(site) == []
    assert "&lt;img" in (site / index).read_text()


def test_a_search_box_with_no_index_fails_the_audit(tmp_path):
    site = small_site(tmp_path, None, [])
    problems = audit.audit_site(site)
    assert len(problems) == 1 and "search box but none of search/search_index.json, search.json" in problems[0]
    # an index that indexes nothing is no index either
    site = small_site(tmp_path / "empty", "search.json", [])
    assert any("search.json: indexes no page" in p for p in audit.audit_site(site))
    # a site without the theme's search (no search box) needs no index
    (site / "search.json").unlink()
    (site / "index.html").write_text("<html><p>no search</p></html>")
    assert audit.audit_site(site) == []


def test_zensical_index_counts_against_the_page_budget(tmp_path):
    site = small_site(tmp_path, "search.json", [dict(DOC, text="x" * 700_000)])
    (site / "big.png").write_bytes(b"\0" * 1_500_000)
    (site / "index.html").write_text(PAGE.replace("</html>", '<img src="big.png" alt="big"></html>'))
    over = [p for p in audit.audit_site(site) if "over the 2 MB page budget" in p]
    assert len(over) == 1 and over[0].startswith("index.html: loads 2.10 MB")


def test_sync_tree_touches_only_what_changed(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "a").mkdir(parents=True)
    (src / "a/same.md").write_text("same")
    (src / "a/changed.md").write_text("new")
    (dest / "a").mkdir(parents=True)
    (dest / "a/same.md").write_text("same")
    (dest / "a/changed.md").write_text("old")
    (dest / "gone").mkdir()
    (dest / "gone/old.md").write_text("stale")
    os.utime(dest / "a/same.md", (1_000_000, 1_000_000))
    sync_tree(src, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["a", "a/changed.md", "a/same.md"]
    assert (dest / "a/changed.md").read_text() == "new"
    assert (dest / "a/same.md").stat().st_mtime == 1_000_000   # unchanged: the engine's cache still knows it


def test_engine_flag_and_unknown_engine():
    assert parser().parse_args(["build"]).engine == "mkdocs"
    assert parser().parse_args(["build", "--engine", "zensical"]).engine == "zensical"
    with pytest.raises(SystemExit):
        parser().parse_args(["build", "--engine", "hugo"])
    with pytest.raises(PaperclubError, match="--engine: expected one of mkdocs, zensical"):
        check_engine("hugo")


def zensical_search(site: Path, term: str) -> tuple[list[str], list[str], list[str]] | None:
    """Type ``term`` into Zensical's search on the home page in headless Chromium: the result links, the
    outside URLs requested, the site paths requested. None where Playwright or Chromium is missing (the
    browser tests say so; the rest of the Zensical test still runs)."""
    import functools
    import http.server
    import shutil
    import threading

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return None

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(base + "/")
            page.locator(".md-search__button").first.click()
            page.locator("dialog input").first.press_sequentially(term, delay=30)
            page.locator("dialog a").first.wait_for(timeout=15_000)
            hrefs = page.eval_on_selector_all("dialog a", "els => els.map(e => e.href)")
            browser.close()
    finally:
        httpd.shutdown()
    return (hrefs, [u for u in requests if not u.startswith(base)],
            [u.removeprefix(base) for u in requests if u.startswith(base)])


def digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*"))
            if f.is_file() and f.relative_to(folder).as_posix() not in skip}


@pytest.mark.slow
def test_scaffolded_project_builds_with_zensical(project_factory):
    if importlib.util.find_spec("zensical") is None:
        pytest.skip("Zensical is not installed (pip install -e '.[zensical]'; the test extra includes it)")
    root = project_factory(["alpha", "beta"])
    project, site, cache = Project(root), root / "site", root / "build" / "cache"
    report = build(project, site, cache, today=TODAY, log=lambda _: None, engine="zensical")
    assert report.site == site
    for slug in ("alpha", "beta"):
        page = (site / "papers" / slug / "index.html").read_text()
        assert "Claims, checked by the notebook" in page
        assert 'class="arithmatex"' in page, f"{slug}: no maths markup"
        assert (site / "slides" / slug / "index.html").exists() and (site / SiteMap.built(SiteMap.handout(slug))).exists()
    # Zensical's own index, audited like Material's (and no Material index left to give a false pass)
    assert not (site / "search" / "search_index.json").exists()
    items = audit.index_docs(json.loads((site / "search.json").read_text()))
    pages = {d["location"].split("#")[0] for d in items}
    assert {"papers/alpha/index.html", "papers/beta/index.html"} <= pages, sorted(pages)
    assert not any(p.startswith("handouts/") for p in pages), "a handout repeats its page: kept out of search"
    assert audit.audit_site(site) == []
    weights = audit.page_weights(site)
    assert max(weights.values()) + (site / "search.json").stat().st_size <= audit.PAGE_BUDGET
    # in the browser: Zensical's own search box (a <dialog>, not Material's) finds the paper, offline
    hits = zensical_search(site, "alpha")
    if hits is not None:
        hrefs, outside, fetched = hits
        assert any("papers/alpha/" in h for h in hrefs), hrefs[:5]
        assert outside == [] and "/search.json" in fetched

    # a one-file edit: the fixed staging folder and Zensical's cache give the same site as a clean build
    notes = root / "papers" / "alpha.md"
    notes.write_text(notes.read_text() + "\nA sentence added after the first build.\n")
    build(project, site, cache, today=TODAY, log=lambda _: None, engine="zensical")
    assert "A sentence added after the first build." in (site / "papers/alpha/index.html").read_text()
    incremental = digest(site, skip=(".paperclub-site",))
    clean = root / "clean-site"
    import shutil

    shutil.rmtree(root / "build" / "zensical")
    build(project, clean, cache, today=TODAY, log=lambda _: None, engine="zensical")
    assert digest(clean, skip=(".paperclub-site",)) == incremental

    # the engine is part of the site's fingerprint: switching engines rebuilds, it is not "nothing changed"
    build(project, site, cache, today=TODAY, log=lambda _: None)
    assert (site / "search" / "search_index.json").exists() and not (site / "search.json").exists()
    assert audit.audit_site(site) == []


@pytest.mark.parametrize("key", ["docs", "items"])
def test_index_keeps_boilerplate_once(key):
    from paperclub.build import once_only

    boiler = "<p>Download the notebook: it runs on its own.</p>"
    docs = [{"location": "", "title": "Home", "text": "<p>TL;DR of a</p> <p>TL;DR of b</p>"}]
    docs += [{"location": f"papers/{s}/", "title": s, "text": f"<p>TL;DR of {s}</p> {boiler} <p>own text of {s}</p>"}
             for s in "abc"]
    docs += [{"location": f"papers/{s}/implementation/#impl-common-seed", "title": "seed()",
              "text": "<p>Seed Python, numpy and torch.</p>"} for s in "abc"]
    data = {"config": {}, key: docs}
    once_only(data)
    out = data[key]
    assert [d["location"] for d in out] == [d["location"] for d in docs]     # every section stays
    assert [d["text"] for d in out[-3:]] == ["<p>Seed Python, numpy and torch.</p>", "", ""]
    assert out[1]["text"] == f"<p>TL;DR of a</p> {boiler} <p>own text of a</p>"
    # on three pages: boilerplate, indexed once; on two (a paper's page and its home card): kept on both
    assert out[2]["text"] == "<p>TL;DR of b</p> <p>own text of b</p>"


def test_opaque_rgba_figure_is_stored_losslessly_as_rgb():
    import io

    import numpy as np
    from PIL import Image

    from paperclub.render import shrink_png

    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 4), dtype=np.uint8)   # > 8192 colours
    noise[..., 3] = 255                                     # photo-like (true colour), alpha unused
    buf = io.BytesIO()
    Image.fromarray(noise, "RGBA").save(buf, format="PNG")
    out = Image.open(io.BytesIO(shrink_png(buf.getvalue())))
    assert out.mode == "RGB" and len(shrink_png(buf.getvalue())) < len(buf.getvalue())
    assert np.array_equal(np.asarray(out), noise[..., :3])
