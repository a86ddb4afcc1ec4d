"""The built site in headless Chromium, as a reader uses it.

Debian's Chromium driven by Playwright (never a browser that a tool downloads); skipped with a clear
message only where neither can be found. Screenshots go to ``artifacts/screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

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


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(built_site):
    site, report = built_site
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

    def __init__(self, browser, url: str, width: int = 1280, height: int = 900):
        self.context = browser.new_context(viewport={"width": width, "height": height})
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
    for img in images:
        assert img["w"] > 0, f"{where}: image did not load: {img['src']}"
        assert img["alt"].strip(), f"{where}: image without alt text: {img['src']}"


def test_home_page(browser, server):
    base, report = server
    v = Visit(browser, base + "/")
    _check_page(v, "home")
    links = v.page.eval_on_selector_all(".pc-card a", "els => els.map(e => e.getAttribute('href'))")
    for p in report.papers:
        assert f"papers/{p.slug}/" in links, f"home card grid does not link to {p.slug}"
    shown = v.page.locator(".pc-next:not([hidden])")
    assert shown.count() == 1 and shown.first.inner_text().startswith("Next session")
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "home.png"), full_page=False)
    # dark mode: the palette toggle switches Material's colour scheme
    scheme = lambda: v.page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    first = scheme()
    v.page.locator("form[data-md-component=palette] label:visible").first.click()
    v.page.wait_for_function(f"document.body.getAttribute('data-md-color-scheme') !== '{first}'")
    assert scheme() != first
    v.close()


PAGE_BUDGET = 2 * 1024 * 1024


def test_every_paper_page(browser, server):
    base, report = server
    weights = {}
    for p in report.papers:
        v = Visit(browser, f"{base}/papers/{p.slug}/")
        v.wait_for_math()
        _check_page(v, p.slug)
        v.page.wait_for_load_state("networkidle")
        weights[f"papers/{p.slug}/"] = v.bytes_loaded()
        assert v.page.locator(".katex").count() > 0, f"{p.slug}: no typeset math"
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
    heavy = {k: w for k, w in weights.items() if w > PAGE_BUDGET}
    assert not heavy, f"pages over the 2 MB budget: {heavy}"


@pytest.mark.parametrize("term,slug", [
    ("reparameterisation", "vae"), ("reparameterization", "vae"), ("quantization", "vae"),
    ("normalization", "vit"), ("mode collapse", "gan"),
])
def test_search_finds_both_spellings(browser, server, term, slug):
    base, report = server
    if slug not in {p.slug for p in report.papers}:
        pytest.skip(f"the {slug} paper is not in this checkout")
    v = Visit(browser, base + "/")
    v.page.locator("label.md-search__icon, .md-search__input").first.click()
    box = v.page.locator("input.md-search__input")
    box.press_sequentially(term, delay=30)
    first = v.page.locator(".md-search-result__item > a").first
    first.wait_for(timeout=15_000)
    hrefs = v.page.eval_on_selector_all(".md-search-result__item > a", "els => els.map(e => e.href)")
    assert any(f"papers/{slug}/" in h for h in hrefs), f"{term!r}: no hit on papers/{slug}/: {hrefs[:5]}"
    if term == "mode collapse":
        assert f"papers/{slug}/" in hrefs[0], f"{term!r}: {slug} is not the first hit: {hrefs[:3]}"
    previews = " ".join(v.page.eval_on_selector_all(".md-search-result__article", "els => els.map(e => e.innerText)"))
    assert "recorded " not in previews and "Notebook: runs in" not in previews, previews[:300]
    assert v.outside() == []
    v.close()


# each tag's box against each part of its equation: no overlap (KaTeX 0.19 puts the tag absolute)
TAG_OVERLAP_JS = """() => {
  const bad = [];
  document.querySelectorAll('.katex-display .katex-html').forEach(html => {
    const tag = html.querySelector(':scope > .tag');
    if (!tag) return;
    const t = tag.getBoundingClientRect();
    html.querySelectorAll(':scope > .base').forEach(b => {
      const r = b.getBoundingClientRect();
      const overlap = Math.min(t.right, r.right) - Math.max(t.left, r.left);
      const vertical = Math.min(t.bottom, r.bottom) - Math.max(t.top, r.top);
      if (overlap > 1 && vertical > 1) bad.push(tag.innerText.trim() + ' over ' + b.innerText.trim().slice(0, 30));
    });
  });
  return bad;
}"""


@pytest.mark.parametrize("width,height", [(390, 844), (1440, 900)])
def test_equation_numbers_never_overprint_their_equations(browser, server, width, height):
    base, report = server
    problems = {}
    for p in report.papers:
        for url in (f"{base}/papers/{p.slug}/", f"{base}/handouts/{p.slug}/"):
            v = Visit(browser, url, width, height)
            v.wait_for_math()
            bad = v.page.evaluate(TAG_OVERLAP_JS)
            if bad:
                problems[url.replace(base, "")] = bad[:3]
            if p.slug == "vae" and width == 390 and "papers" in url:
                SHOTS.mkdir(parents=True, exist_ok=True)
                v.page.evaluate("document.querySelector('.katex-display .tag')?.scrollIntoView()")
                v.page.screenshot(path=str(SHOTS / "phone-vae-equations.png"))
            v.close()
    assert not problems, problems


def test_schedule_and_claims_fit_a_phone(browser, server):
    base, report = server
    v = Visit(browser, base + "/schedule/", 390, 844)
    wide = v.page.evaluate("""() => Array.from(document.querySelectorAll('.pc-schedule table')).map(
        t => [t.scrollWidth, t.parentElement.clientWidth])""")
    assert wide and all(w <= c + 1 for w, c in wide), f"schedule tables wider than the screen: {wide}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "phone-schedule.png"))
    v.close()
    v = Visit(browser, f"{base}/papers/{report.papers[0].slug}/", 390, 844)
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
    """1920×1080: one title slide, nothing past the slide's edge, a claims table readable from the back."""
    base, report = server
    overflow, problems = {}, []
    for p in report.papers:
        v = Visit(browser, f"{base}/slides/{p.slug}/", 1920, 1080)
        v.page.wait_for_function("() => window.Reveal && Reveal.isReady()")
        v.wait_for_math()
        total = v.page.evaluate("Reveal.getTotalSlides()")
        titles = v.page.evaluate("Array.from(document.querySelectorAll('.slides > section')).map(s => !!s.querySelector('h1'))")
        if titles[0] is not True or any(titles[1:]):
            problems.append(f"{p.slug}: title slides at {[i for i, t in enumerate(titles) if t]}")
        if v.page.locator(".pc-footer").count():
            problems.append(f"{p.slug}: a footer over the slides")
        for i in range(total):
            v.page.evaluate(f"Reveal.slide({i})")
            v.page.wait_for_timeout(60)
            bad = v.page.evaluate(SLIDE_OVERFLOW_JS)
            if bad:
                overflow[f"{p.slug} slide {i + 1}"] = bad[:2]
            if v.page.evaluate("!!Reveal.getCurrentSlide().querySelector('table.pc-claims')"):
                px = v.page.evaluate("""() => { const td = Reveal.getCurrentSlide().querySelector('table.pc-claims td');
                    return parseFloat(getComputedStyle(td).fontSize) * Reveal.getScale(); }""")
                if px < 20:
                    problems.append(f"{p.slug} slide {i + 1}: claims at {px:.1f} px on a 1080p projector")
                if p.slug == "gan":
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    v.page.screenshot(path=str(SHOTS / "deck-claims-1080p.png"))
        v.close()
    assert not overflow, f"slide content past the slide's edge: {overflow}"
    assert not problems, problems


def test_decks_navigate_and_open_speaker_view(browser, server):
    base, report = server
    for p in report.papers:
        v = Visit(browser, f"{base}/slides/{p.slug}/")
        v.page.wait_for_function("() => window.Reveal && Reveal.isReady()")
        v.wait_for_math()
        _check_page(v, f"deck {p.slug}")
        total = v.page.evaluate("Reveal.getTotalSlides()")
        assert total >= 8
        v.page.keyboard.press("ArrowRight")
        v.page.keyboard.press("ArrowRight")
        assert v.page.evaluate("Reveal.getIndices().h") == 2
        if p.slug == report.papers[0].slug:
            with v.context.expect_page() as popup:
                v.page.keyboard.press("s")
            notes = popup.value
            notes.wait_for_load_state()
            assert notes.locator(".speaker-controls-notes, #speaker-controls, .speaker-controls").count() > 0
        v.close()


def test_deck_prints_to_pdf_one_slide_per_page(browser, built_site, tmp_path):
    from paperclub.slides import export_pdf

    site, report = built_site
    slug = report.papers[0].slug
    deck = site / "slides" / slug / "index.html"
    (pdf,) = export_pdf([deck], tmp_path, _chromium(), browser)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    assert pages == deck.read_text().count("<section"), pages


def test_every_handout_prints_on_one_a4_page(browser, server, tmp_path):
    base, report = server
    page = browser.new_page()
    for p in report.papers:
        page.goto(f"{base}/handouts/{p.slug}/", wait_until="load")
        page.wait_for_function("() => document.documentElement.dataset.mathTypeset === '1'", timeout=20_000)
        out = tmp_path / f"{p.slug}.pdf"
        page.pdf(path=str(out), prefer_css_page_size=True)
        data = out.read_bytes()
        pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
        assert pages == 1, f"handout {p.slug} prints on {pages} pages"
    page.close()
