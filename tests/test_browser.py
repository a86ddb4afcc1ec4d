"""The built site in headless Chromium, as a reader uses it.

Debian's Chromium driven by Playwright (never a browser that a tool downloads); skipped with a clear
message only where neither can be found. Screenshots go to ``artifacts/screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from paperclub.layout import SiteMap

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("site")]  # with the e2e tests: one build

# text nodes outside code and typeset math that still look like TeX: $…$ or \( … \)
RAW_MATH_JS = """() => {
  const walker = document.createTreeWalker(document.querySelector('article, .slides') || document.body,
                                           NodeFilter.SHOW_TEXT);
  const bad = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, script, style, .katex, .highlight, textarea')) continue;
    const t = n.textContent;
    if (/\\$[^$\\s][^$]*\\$/.test(t) || /\\\\\\(|\\\\\\[/.test(t)) bad.push(t.trim().slice(0, 80));
  }
  return bad;
}"""


def page_url(base: str, doc: str) -> str:
    """The URL of a staged file in the built site (as the layout names it: no directory URLs)."""
    return f"{base}/{SiteMap.built(doc)}"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def site_under_test(request):
    """The site built once per session (conftest's ``built_site``), or an already built one named by
    ``PAPERCLUB_TEST_SITE`` (to run these checks on a site you built, e.g. ``site/``)."""
    given = os.environ.get("PAPERCLUB_TEST_SITE")
    if not given:
        return request.getfixturevalue("built_site")
    from types import SimpleNamespace

    from paperclub.papers import load_papers

    site = Path(given).resolve()
    built = {p.parent.name for p in site.glob("papers/*/*.html")}
    return site, SimpleNamespace(papers=[p for p in load_papers(ROOT / "papers") if p.slug in built])


@pytest.fixture(scope="module")
def server(site_under_test):
    site, report = site_under_test
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", report
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install '.[test]')")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium); browser tests skipped")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=FLAGS)
        yield b
        b.close()


class Visit:
    """A page opened in a fresh context that records every request and console error."""

    def __init__(self, browser, url: str, width: int = 1280, height: int = 900, scheme: str = "light"):
        self.context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.responses = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: self.responses.append(r))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url, wait_until="load")

    def outside(self) -> list[str]:
        return [u for u in self.requests
                if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).hostname != "127.0.0.1"]

    def directory_links(self) -> list[str]:
        """Links into the site that name a folder (a file:// reader gets a directory listing there)."""
        return self.page.evaluate("""() => Array.from(document.querySelectorAll('a[href]'))
            .map(a => a.href).filter(h => h.startsWith(location.protocol === 'file:' ? 'file:' : location.origin))
            .map(h => h.split('#')[0].split('?')[0]).filter(h => h.endsWith('/'))""")

    def wait_for_math(self) -> None:
        self.page.wait_for_function("() => document.documentElement.dataset.mathTypeset === '1'", timeout=20_000)

    def bytes_loaded(self) -> int:
        """Body bytes of every response the page received (fonts and lazy loads included)."""
        total = 0
        for r in self.responses:
            try:
                total += len(r.body())
            except Exception:  # redirects and aborted requests have no body
                pass
        return total

    def close(self) -> None:
        self.context.close()


def _check_page(v: Visit, where: str) -> None:
    assert v.outside() == [], f"{where}: requests outside 127.0.0.1: {v.outside()}"
    assert v.errors == [], f"{where}: console errors: {v.errors}"
    assert v.page.locator(".katex-error").count() == 0, f"{where}: KaTeX could not typeset some math"
    images = v.page.eval_on_selector_all(
        "img", "els => els.map(e => ({src: e.getAttribute('src'), w: e.naturalWidth, alt: e.alt}))")
    assert v.page.locator("body *").count() > 20, f"{where}: the page is (nearly) empty"
    for img in images:
        assert img["w"] > 0, f"{where}: image did not load: {img['src']}"
        assert img["alt"].strip(), f"{where}: image without alt text: {img['src']}"


def test_home_page(browser, server):
    base, report = server
    v = Visit(browser, base + "/")
    _check_page(v, "home")
    links = v.page.eval_on_selector_all(".pc-card a", "els => els.map(e => e.getAttribute('href'))")
    assert len(links) >= len(report.papers) >= 1, f"found {len(links)} card links for {len(report.papers)} papers"
    for p in report.papers:
        assert SiteMap.built(SiteMap.page(p.slug)) in links, f"home card grid does not link to {p.slug}: {links[:4]}"
    shown = v.page.locator(".pc-next:not([hidden])")
    assert shown.count() == 1 and shown.first.inner_text().startswith("Next session")
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "home.png"), full_page=False)
    # dark mode: the palette toggle switches Material's colour scheme
    scheme = lambda: v.page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    first = scheme()
    assert first in ("default", "slate"), f"no Material colour scheme on the page: {first!r}"
    v.page.locator("form[data-md-component=palette] label:visible").first.click()
    v.page.wait_for_function(f"document.body.getAttribute('data-md-color-scheme') !== '{first}'")
    assert scheme() != first
    v.close()


PAGE_BUDGET = 2 * 1024 * 1024


def test_every_paper_page(browser, server):
    base, report = server
    assert report.papers, "the build produced no paper"
    weights = {}
    for p in report.papers:
        v = Visit(browser, page_url(base, SiteMap.page(p.slug)))
        v.wait_for_math()
        _check_page(v, p.slug)
        v.page.wait_for_load_state("networkidle")
        weights[SiteMap.built(SiteMap.page(p.slug))] = v.bytes_loaded()
        assert v.page.locator(".katex").count() > 0, f"{p.slug}: no typeset math"
        assert v.page.locator("article img").count() > 0, f"{p.slug}: no figure on the page"
        assert v.page.locator(".katex-error").count() == 0, \
            f"{p.slug}: KaTeX could not typeset: {v.page.locator('.katex-error').first.get_attribute('title')}"
        raw = v.page.evaluate(RAW_MATH_JS)
        assert raw == [], f"{p.slug}: untypeset math left in prose: {raw[:3]}"
        for suffix in (".ipynb",):
            resp = v.page.request.get(f"{base}/papers/{p.slug}/{p.slug}{suffix}")
            assert resp.ok
            nb = json.loads(resp.text())
            assert nb["nbformat"] == 4 and any(c["cell_type"] == "code" for c in nb["cells"])
        if p.slug == "vae":
            SHOTS.mkdir(parents=True, exist_ok=True)
            v.page.screenshot(path=str(SHOTS / "paper-vae.png"), full_page=False)
        v.close()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "page-weight-browser.md").write_text(
        "| page | bytes the browser loaded |\n| --- | ---: |\n"
        + "".join(f"| {k} | {w:,} |\n" for k, w in sorted(weights.items(), key=lambda kv: -kv[1])))
    assert all(w > 10_000 for w in weights.values()), f"a page loaded (almost) nothing: {weights}"
    heavy = {k: w for k, w in weights.items() if w > PAGE_BUDGET}
    assert not heavy, f"pages over the 2 MB budget: {heavy}"


def _search(v: Visit, term: str) -> list[str]:
    """Type ``term`` into Material's search box; the hrefs of the results, best first."""
    v.page.locator("label.md-search__icon, .md-search__input").first.click()
    box = v.page.locator("input.md-search__input")
    box.press_sequentially(term, delay=30)
    first = v.page.locator(".md-search-result__item > a").first
    first.wait_for(timeout=15_000)
    return v.page.eval_on_selector_all(".md-search-result__item > a", "els => els.map(e => e.href)")


@pytest.mark.parametrize("term,slug,first", [
    ("reparameterisation", "vae", False), ("reparameterization", "vae", False), ("quantization", "vae", True),
    ("normalization", "vit", False), ("mode collapse", "gan", True),
])
def test_search_finds_both_spellings(browser, server, term, slug, first):
    """Both spellings find the paper; a term that is one of a paper's tags or in its title ranks it first."""
    base, report = server
    if slug not in {p.slug for p in report.papers}:
        pytest.skip(f"the {slug} paper is not in this checkout")
    v = Visit(browser, base + "/")
    hrefs = _search(v, term)
    assert hrefs, f"{term!r}: no results"
    assert any(f"papers/{slug}/" in h for h in hrefs), f"{term!r}: no hit on papers/{slug}/: {hrefs[:5]}"
    if first:
        assert f"papers/{slug}/" in hrefs[0], f"{term!r}: {slug} is not the first hit: {hrefs[:3]}"
    previews = " ".join(v.page.eval_on_selector_all(".md-search-result__article", "els => els.map(e => e.innerText)"))
    assert previews.strip(), f"{term!r}: results without previews"
    assert "recorded " not in previews and "Notebook: runs in" not in previews, previews[:300]
    assert v.outside() == []
    v.close()


# each tag's box against each part of its equation (no overlap: KaTeX 0.19 puts the tag absolute), and a
# display that scrolls sideways starts at its first symbol (flex centring pushes it out of reach)
TAG_OVERLAP_JS = """() => {
  const bad = [], cut = [];
  let tags = 0, displays = 0;
  document.querySelectorAll('.katex-display').forEach(disp => {
    const html = disp.querySelector('.katex-html');
    if (!html || !disp.getClientRects().length) return;   // hidden (a closed details block)
    displays += 1;
    disp.scrollLeft = 0;
    const bases = Array.from(html.querySelectorAll(':scope > .katex-base'));
    const box = disp.getBoundingClientRect();
    if (bases.length && bases[0].getBoundingClientRect().left < box.left - 1)
      cut.push(bases[0].innerText.trim().slice(0, 30) + ' starts ' +
               Math.round(box.left - bases[0].getBoundingClientRect().left) + ' px out of reach');
    const tag = html.querySelector(':scope > .katex-tag');
    if (!tag) return;
    tags += 1;
    const t = tag.getBoundingClientRect();
    bases.forEach(b => {
      const r = b.getBoundingClientRect();
      const overlap = Math.min(t.right, r.right) - Math.max(t.left, r.left);
      const vertical = Math.min(t.bottom, r.bottom) - Math.max(t.top, r.top);
      if (overlap > 1 && vertical > 1) bad.push(tag.innerText.trim() + ' over ' + b.innerText.trim().slice(0, 30));
    });
  });
  return {tags, displays, bad, cut};
}"""


@pytest.mark.parametrize("width,height", [(390, 844), (1440, 900)])
def test_equation_numbers_never_overprint_their_equations(browser, server, width, height):
    base, report = server
    problems, counts = {}, {}
    for p in report.papers:
        for doc in (SiteMap.page(p.slug), SiteMap.handout(p.slug)):
            v = Visit(browser, page_url(base, doc), width, height)
            v.wait_for_math()
            got = v.page.evaluate(TAG_OVERLAP_JS)
            counts[doc] = got["tags"]
            if got["bad"] or got["cut"]:
                problems[doc] = got["bad"][:3] + got["cut"][:3]
            if p.slug == "vae" and width == 390 and doc == SiteMap.page(p.slug):
                SHOTS.mkdir(parents=True, exist_ok=True)
                v.page.evaluate("document.querySelector('.katex-display .katex-tag')?.scrollIntoView()")
                v.page.screenshot(path=str(SHOTS / "phone-vae-equations.png"))
            v.close()
    # it measured something: the VAE page numbers nine equations as the paper does (eqs. 1-11), and the
    # season's pages and handouts about eighty
    if "vae" in {p.slug for p in report.papers}:
        assert counts[SiteMap.page("vae")] >= 9, f"only {counts[SiteMap.page('vae')]} tagged equations on the VAE page"
    assert sum(counts.values()) >= 3 * len(report.papers), f"too few tagged equations found: {counts}"
    assert not problems, f"{sum(map(len, problems.values()))} problems: {problems}"


def test_schedule_and_claims_fit_a_phone(browser, server):
    base, report = server
    v = Visit(browser, page_url(base, SiteMap.SCHEDULE), 390, 844)
    tables = v.page.locator(".pc-schedule table").count()
    assert tables >= 1, "no schedule table on the schedule page"
    # the screen, not the table's own scroll wrapper: nothing sticks out past 390 px
    wide = v.page.evaluate("""() => ({page: document.documentElement.scrollWidth, screen: window.innerWidth,
        tables: Array.from(document.querySelectorAll('.pc-schedule table')).map(
            t => [Math.round(t.getBoundingClientRect().right), t.scrollWidth, t.parentElement.clientWidth])})""")
    assert wide["page"] <= wide["screen"], f"the schedule page scrolls sideways: {wide}"
    assert all(r <= wide["screen"] and w <= c + 1 for r, w, c in wide["tables"]), f"schedule wider than the screen: {wide}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "phone-schedule.png"))
    v.close()
    v = Visit(browser, page_url(base, SiteMap.page(report.papers[0].slug)), 390, 844)
    assert v.page.locator("table code").count() > 0, "no metric names in the claims table"
    broken = v.page.evaluate("""() => Array.from(document.querySelectorAll('table code')).filter(
        c => c.getClientRects().length > 1 && !c.innerHTML.includes('<wbr>')).map(c => c.innerText)""")
    assert broken == [], f"metric names broken mid-word: {broken}"
    v.close()


# the current slide's content fits reveal's canvas (config width × height, before scaling): reveal
# centres a slide at top = max((height - scrollHeight) / 2, 0), so anything taller runs off the bottom
SLIDE_OVERFLOW_JS = """() => {
  const cur = Reveal.getCurrentSlide();
  const cfg = Reveal.getConfig();
  const bad = [];
  if (cur.scrollHeight > cfg.height + 2) bad.push('content ' + cur.scrollHeight + ' px tall, slide ' + cfg.height);
  if (cur.scrollWidth > cfg.width + 2) bad.push('content ' + cur.scrollWidth + ' px wide, slide ' + cfg.width);
  const h = cur.querySelector('h1, h2, h3');
  return bad.length ? [(h ? h.innerText.slice(0, 40) : '') + ': ' + bad.join(', ')] : [];
}"""


def test_decks_on_a_projector(browser, server):
    """1920×1080: one title slide, nothing past the slide's edge, a claims table readable from the back,
    equation numbers clear of their equations."""
    base, report = server
    overflow, problems = {}, []
    slides_seen = claims_seen = displays = 0
    for p in report.papers:
        v = Visit(browser, page_url(base, SiteMap.deck(p.slug)), 1920, 1080)
        v.page.wait_for_function("() => window.Reveal && Reveal.isReady()")
        v.wait_for_math()
        total = v.page.evaluate("Reveal.getTotalSlides()")
        titles = v.page.evaluate("Array.from(document.querySelectorAll('.slides > section')).map(s => !!s.querySelector('h1'))")
        if not titles or titles[0] is not True or any(titles[1:]):
            problems.append(f"{p.slug}: title slides at {[i for i, t in enumerate(titles) if t]}")
        if v.page.locator(".pc-footer").count():
            problems.append(f"{p.slug}: a footer over the slides")
        for i in range(total):
            v.page.evaluate(f"Reveal.slide({i})")
            v.page.wait_for_timeout(60)
            slides_seen += 1
            bad = v.page.evaluate(SLIDE_OVERFLOW_JS)
            if bad:
                overflow[f"{p.slug} slide {i + 1}"] = bad[:2]
            eq = v.page.evaluate(TAG_OVERLAP_JS)
            displays += eq["displays"]
            if eq["bad"] or eq["cut"]:
                problems.append(f"{p.slug} slide {i + 1}: {(eq['bad'] + eq['cut'])[:2]}")
            if v.page.evaluate("!!Reveal.getCurrentSlide().querySelector('table.pc-claims')"):
                claims_seen += 1
                px = v.page.evaluate("""() => { const td = Reveal.getCurrentSlide().querySelector('table.pc-claims td');
                    return parseFloat(getComputedStyle(td).fontSize) * Reveal.getScale(); }""")
                if px < 20:
                    problems.append(f"{p.slug} slide {i + 1}: claims at {px:.1f} px on a 1080p projector")
                if p.slug == "gan":
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    v.page.screenshot(path=str(SHOTS / "deck-claims-1080p.png"))
        v.close()
    assert slides_seen >= 8 * len(report.papers), f"only {slides_seen} slides visited"
    assert claims_seen >= len(report.papers), f"only {claims_seen} claims slides for {len(report.papers)} decks"
    assert displays >= len(report.papers), f"only {displays} display equations in all the decks"
    assert not overflow, f"slide content past the slide's edge: {overflow}"
    assert not problems, problems


def test_decks_navigate_and_open_speaker_view(browser, server):
    """Keyboard only: arrows move, Home/End jump; the deck names its language and its title."""
    base, report = server
    assert report.papers
    for p in report.papers:
        v = Visit(browser, page_url(base, SiteMap.deck(p.slug)))
        v.page.wait_for_function("() => window.Reveal && Reveal.isReady()")
        v.wait_for_math()
        _check_page(v, f"deck {p.slug}")
        assert v.page.evaluate("document.documentElement.lang") == "en"
        assert p.slug and v.page.title().strip() and "slides" in v.page.title()
        total = v.page.evaluate("Reveal.getTotalSlides()")
        assert total >= 8
        v.page.locator("body").focus()
        v.page.keyboard.press("ArrowRight")
        v.page.keyboard.press("ArrowRight")
        assert v.page.evaluate("Reveal.getIndices().h") == 2
        v.page.keyboard.press("ArrowLeft")
        assert v.page.evaluate("Reveal.getIndices().h") == 1
        v.page.keyboard.press("End")
        assert v.page.evaluate("Reveal.getIndices().h") == total - 1
        v.page.keyboard.press("Home")
        assert v.page.evaluate("Reveal.getIndices().h") == 0
        if p.slug == report.papers[0].slug:
            with v.context.expect_page() as popup:
                v.page.keyboard.press("s")
            notes = popup.value
            notes.wait_for_load_state()
            assert notes.locator(".speaker-controls-notes, #speaker-controls, .speaker-controls").count() > 0
        v.close()


def test_deck_prints_to_pdf_one_slide_per_page(browser, site_under_test, tmp_path):
    from paperclub.slides import export_pdf

    site, report = site_under_test
    slug = report.papers[0].slug
    deck = site / SiteMap.deck(slug)
    (pdf,) = export_pdf([deck], tmp_path, _chromium(), browser)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    sections = deck.read_text().count("<section")
    assert sections >= 8 and pages == sections, (pages, sections)


def test_every_handout_prints_on_one_a4_page(browser, server, tmp_path):
    base, report = server
    assert report.papers
    page = browser.new_page()
    for p in report.papers:
        page.goto(page_url(base, SiteMap.handout(p.slug)), wait_until="load")
        page.wait_for_function("() => document.documentElement.dataset.mathTypeset === '1'", timeout=20_000)
        assert page.locator(".pc-handout").count() == 1, f"handout {p.slug}: no handout on the page"
        out = tmp_path / f"{p.slug}.pdf"
        page.pdf(path=str(out), prefer_css_page_size=True)
        data = out.read_bytes()
        pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
        assert pages == 1, f"handout {p.slug} prints on {pages} pages"
    page.close()


# --------------------------------------------------------------------------- the site from disk

def test_site_works_from_disk(browser, site_under_test):
    """A copy of ``site/`` opened from ``file://``: home → a paper → its deck, figures, search; no directory
    links (a file:// reader gets a folder listing there) and no request that is not a file."""
    site, report = site_under_test
    slug = "vae" if "vae" in {p.slug for p in report.papers} else report.papers[0].slug
    v = Visit(browser, (site / "index.html").as_uri())
    _check_page(v, "home from disk")
    assert v.directory_links() == [], f"home: links to folders: {v.directory_links()[:5]}"
    v.page.locator(f".pc-card .pc-title a[href*='papers/{slug}/']").first.click()
    v.page.wait_for_load_state("load")
    assert v.page.url == (site / SiteMap.built(SiteMap.page(slug))).as_uri(), v.page.url
    v.wait_for_math()
    _check_page(v, f"{slug} from disk")
    assert v.page.locator("article img").count() > 0 and v.page.locator(".katex").count() > 0
    assert v.directory_links() == [], f"{slug}: links to folders: {v.directory_links()[:5]}"
    # search: the index must load into a file:// page (a worker cannot, so the offline shim runs it)
    hrefs = _search(v, "reparameterisation")
    assert hrefs and all(h.startswith("file:") and not h.split("#")[0].endswith("/") for h in hrefs), hrefs[:5]
    assert any(f"papers/{slug}/" in h for h in hrefs) or slug != "vae", hrefs[:5]
    v.page.keyboard.press("Escape")
    v.page.locator("article a", has_text="Slides").first.click()
    v.page.wait_for_load_state("load")
    assert v.page.url == (site / SiteMap.deck(slug)).as_uri(), v.page.url
    v.page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    v.wait_for_math()
    _check_page(v, f"deck {slug} from disk")
    v.page.keyboard.press("ArrowRight")
    assert v.page.evaluate("Reveal.getIndices().h") == 1
    assert v.directory_links() == [], f"deck: links to folders: {v.directory_links()[:5]}"
    for doc in (SiteMap.SCHEDULE, SiteMap.handout(slug), f"{SiteMap.page_dir(slug)}/implementation.md"):
        v.page.goto((site / SiteMap.built(doc)).as_uri(), wait_until="load")
        assert v.directory_links() == [], f"{doc}: links to folders: {v.directory_links()[:5]}"
    assert v.requests and all(urlsplit(u).scheme in ("file", "data", "blob", "about") for u in v.requests), \
        [u for u in v.requests if urlsplit(u).scheme not in ("file", "data", "blob", "about")][:5]
    assert v.errors == [], v.errors
    v.close()


# --------------------------------------------------------------------------- accessibility (WCAG 2.1 AA)

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  await document.fonts.ready;   // the page's final layout (wide equations become focusable then)
  await new Promise(done => setTimeout(done, 50));
  const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
  const count = list => list.reduce((n, rule) => n + rule.nodes.length, 0);
  return {checked: count(r.passes) + count(r.violations) + count(r.incomplete), rules: r.passes.length,
          violations: r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
            rule: v.id, impact: v.impact,
            nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary.split('\\n').slice(1, 2).join(''))}))};
}"""


def _every_page(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).as_posix().startswith(("assets/", "search/")))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_meets_wcag_aa(browser, server, site_under_test, scheme):
    """axe-core on every page, handout and deck: no serious or critical WCAG 2.1 A/AA violation."""
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run 'make install' (npm ci installs the dev dependency)")
    base, report = server
    site, _ = site_under_test
    pages = _every_page(site)
    assert len(pages) >= 4 * len(report.papers), f"only {len(pages)} pages found: {pages}"
    checked, found = {}, {}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    # a deck shows one slide at a time: axe checks it as shown (controls, slide number) and in reveal's
    # print view, where every slide is laid out and visible
    runs = [u for rel in pages for u in ([rel, rel + "?print-pdf"] if rel.startswith("slides/") else [rel])]
    for rel in runs:
        page = context.new_page()
        page.goto(f"{base}/{rel}", wait_until="load")
        if rel.startswith("slides/"):
            page.wait_for_function("() => window.Reveal && Reveal.isReady()")
        if page.locator("script[src$='katex-init.js']").count():
            page.wait_for_function("() => document.documentElement.dataset.mathTypeset === '1'", timeout=20_000)
        if page.locator("form[data-md-component=palette]").count():
            want = "slate" if scheme == "dark" else "default"
            assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == want, \
                f"{rel}: the site did not follow the {scheme} colour scheme"
        page.add_script_tag(path=str(AXE))
        res = page.evaluate(AXE_RUN)
        checked[rel] = (res["checked"], res["rules"])
        for viol in res["violations"]:
            found.setdefault(rel, []).append(f"{viol['rule']} ({viol['impact']}, {len(viol['nodes'])}): "
                                             + "; ".join(viol["nodes"][:3]))
        page.close()
    context.close()
    # it checked something: every page's elements (a deck's shown slide alone is about 50, all its slides
    # several hundred), with a dozen rules or more applying
    least = lambda rel: 20 if rel.startswith("slides/") and "?" not in rel else 100  # noqa: E731
    thin = {rel: c for rel, c in checked.items() if c[0] < least(rel) or c[1] < 10}
    assert len(checked) > len(pages) and not thin, f"axe checked too little on: {thin}"
    total = sum(len(v) for v in found.values())
    assert not found, (f"{scheme}: serious/critical axe violations on {len(found)} of {len(runs)} pages "
                       f"({total} rules):\n" + "\n".join(f"{k}: {x}" for k, xs in found.items() for x in xs))
