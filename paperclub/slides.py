"""Stage 5: a reveal.js deck per paper, from ``slides/<slug>.md``.

The deck source is Markdown a presenter edits: slides separated by lines of ``---``, speaker notes
after a line ``Note:``, figures the notebook saved as ``figures/<name>.png``, measured numbers as
``{{ metric:fmt }}`` references, and a line ``{{ claims }}`` that becomes the presenter's claims slides.
The Markdown is rendered here with the same extensions as the site (read from ``mkdocs.yml``), so the
deck needs only reveal.js, its notes plugin and the site's KaTeX: all copied from packages installed at
set-up time, never a CDN. The page template and styles live in ``templates/`` and ``assets/``.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml

from paperclub import fragments as frag
from paperclub import sanitize
from paperclub.bind import render_refs
from paperclub.errors import PaperclubError
from paperclub.execute import NotebookResult, read_text
from paperclub.layout import SiteMap
from paperclub.papers import Paper

REVEAL_VERSION = "6.0.2"
FIG_REF = re.compile(r"\]\((figures/([^)\s]+))\)")
CLAIMS = re.compile(r"^\{\{\s*claims\s*\}\}\s*$", re.M)
CLAIMS_PER_SLIDE = 4
TEMPLATES = Path(__file__).parent / "templates"
# extensions that make sense on a page but not on a slide
NOT_ON_SLIDES = {"toc", "pymdownx.tasklist"}


def reveal_dist(root: Path) -> Path:
    dist = root / "node_modules" / "reveal.js" / "dist"
    if not (dist / "reveal.js").exists():
        raise PaperclubError("node_modules/reveal.js is missing: run 'make install' (npm ci installs reveal.js "
                             f"{REVEAL_VERSION} from the npm registry)")
    return dist


def copy_reveal(root: Path, site_assets: Path) -> None:
    """Copy the parts of reveal.js a deck uses; the theme loses its embedded web fonts (system fonts instead)."""
    from pygments.formatters import HtmlFormatter

    dist = reveal_dist(root)
    out = site_assets / "reveal"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("reveal.js", "reveal.css", "reset.css"):
        shutil.copy2(dist / name, out / name)
    shutil.copy2(dist / "plugin" / "notes.js", out / "notes.js")
    theme = (dist / "theme" / "white.css").read_text(encoding="utf-8")
    (out / "theme-white.css").write_text(re.sub(r"@font-face\{[^}]*\}", "", theme), encoding="utf-8")
    (out / "pygments.css").write_text(HtmlFormatter(style="xcode").get_style_defs(".highlight"), encoding="utf-8")


def split_slides(text: str) -> list[tuple[str, str]]:
    """``(body, notes)`` per slide: slides split on lines of ``---``, notes after a line ``Note:``."""
    slides: list[tuple[str, str]] = []
    for chunk in re.split(r"^---[ \t]*$", text, flags=re.M):
        if not chunk.strip():
            continue
        parts = re.split(r"^Note:[ \t]*$", chunk, maxsplit=1, flags=re.M)
        slides.append((parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""))
    return slides


def markdown_extensions(mkdocs_yml: Path) -> tuple[list[str], dict]:
    """The site's Markdown extensions (from ``mkdocs.yml``), less those that only make sense on a page."""
    cfg = yaml.safe_load(mkdocs_yml.read_text(encoding="utf-8")) if mkdocs_yml.exists() else {}
    names, configs = [], {}
    for item in (cfg or {}).get("markdown_extensions", []):
        name, conf = (next(iter(item.items())) if isinstance(item, dict) else (item, None))
        if name in NOT_ON_SLIDES:
            continue
        names.append(name)
        if conf:
            configs[name] = dict(conf)
    configs.setdefault("pymdownx.highlight", {}).update(use_pygments=True, css_class="highlight",
                                                        anchor_linenums=False)
    if "pymdownx.highlight" not in names:
        names.append("pymdownx.highlight")
    return names, configs


def _markdown(text: str, extensions: tuple[list[str], dict]) -> str:
    import markdown

    return markdown.Markdown(extensions=extensions[0], extension_configs=extensions[1]).convert(
        frag.isolate_display_math(text))


@dataclass
class Deck:
    html: str
    slides: int
    figures: list[Path] = field(default_factory=list)


def referenced_figures(text: str) -> list[tuple[int, str]]:
    """``(slide number, figure file name)`` for every figure a deck names."""
    return [(i, fname) for i, (body, _) in enumerate(split_slides(text), start=1)
            for _, fname in FIG_REF.findall(body)]


def _title_slide(paper: Paper, body: str | None, notes: str, ext) -> str:
    """The deck's own first slide when it opens with a ``# `` title, else one made from the front matter;
    either way with the session line (date, presenter, room) from the front matter."""
    session = (f'<p class="pc-session">Paper club · {frag.attr(frag.session_line(paper))} · '
               f'<a href="{SiteMap.link(SiteMap.deck(paper.slug), SiteMap.built(SiteMap.page(paper.slug)))}">study page</a></p>')
    help_ = "Press S for the speaker view, F for full screen, Esc for the overview."
    if body is not None:
        aside = f'<aside class="notes">{_markdown(notes, ext) if notes else ""}<p>{help_}</p></aside>'
        return f"<section>\n{_markdown(body, ext)}\n{session}\n{aside}\n</section>"
    return (f'<section>\n<h1>{frag.attr(paper.title)}</h1>\n'
            f"<p>{frag.attr(', '.join(paper.authors))} — {frag.attr(paper.venue)} {paper.year}</p>\n{session}\n"
            f'<aside class="notes"><p>{help_}</p><p>TL;DR: {frag.attr(paper.tldr)}</p></aside>\n</section>')


def _claims_sections(paper: Paper, result: NotebookResult, heading_md: str, notes_html: str, ext) -> list[str]:
    """The presenter's claims slides: claim, our figure, control, verdict; a few rows a slide."""
    rows = frag.claims_slides_rows(paper.verdicts(result.metrics, result.sweep))
    if not rows:
        return [f"<section>\n{_markdown(heading_md, ext)}\n<p>No measured claims yet.</p>{notes_html}\n</section>"]
    chunks = [rows[i:i + CLAIMS_PER_SLIDE] for i in range(0, len(rows), CLAIMS_PER_SLIDE)]
    out = []
    for k, chunk in enumerate(chunks, start=1):
        head = heading_md or "## Claims, checked by the notebook"
        if len(chunks) > 1:
            head += f" ({k}/{len(chunks)})"
        table = ('<table class="pc-claims"><thead><tr><th>Claim</th><th>Ours</th><th>Control</th>'
                 f'<th>Verdict</th></tr></thead><tbody>{"".join(chunk)}</tbody></table>')
        out.append(f"<section>\n{_markdown(head, ext)}\n{table}{notes_html}\n</section>")
    return out


def build_deck(paper: Paper, result: NotebookResult, source: Path, mkdocs_yml: Path) -> Deck:
    """Render ``source`` into a deck: its HTML, its slide count and the figures it uses."""
    name = f"{source.parent.name}/{source.name}"
    if not source.exists():
        raise PaperclubError(f"{name}: deck not found (every paper needs one; 'paperclub new' scaffolds it)")
    # raw HTML in a deck goes through the same allowlist as the notes
    slides = split_slides(sanitize.notes_markdown(render_refs(read_text(source, name), result.metrics, name)))
    if not slides:
        raise PaperclubError(f"{name}: no slides (separate slides with lines of '---')")
    ext = markdown_extensions(mkdocs_yml)
    figures = {f.name: f for f in result.figures}
    deck = Deck("", 0)
    own_title = slides[0][0].lstrip().startswith("# ")
    sections = [_title_slide(paper, slides[0][0] if own_title else None, slides[0][1] if own_title else "", ext)]
    first_numbered = 2 if own_title else 1  # slide numbers as the presenter counts them in the file
    for i, (body, notes) in enumerate(slides[1:] if own_title else slides, start=first_numbered):
        for ref, fname in FIG_REF.findall(body):
            if fname not in figures:
                saved = ", ".join(sorted(figures)) or "none"
                raise PaperclubError(f"{name}: slide {i}: figure '{ref}' was not saved by the notebook "
                                     f"(saved: {saved})")
            deck.figures.append(figures[fname])
        aside = f'\n<aside class="notes">{_markdown(notes, ext)}</aside>' if notes else ""
        if CLAIMS.search(body):
            heading = "\n".join(ln for ln in body.splitlines() if ln.startswith("#"))
            sections += _claims_sections(paper, result, heading, aside, ext)
            continue
        text_lines = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#") and "![" not in ln]
        cls = ' class="pc-figure-slide"' if len(FIG_REF.findall(body)) == 1 and len(text_lines) <= 2 else ""
        sections.append(f"<section{cls}>\n{_markdown(body, ext)}{aside}\n</section>")
    template = Template(read_text(TEMPLATES / "deck.html"))
    deck.html = template.substitute(title=frag.attr(paper.title), slides="\n".join(sections))
    deck.slides = len(sections)
    return deck


def find_chromium() -> str | None:
    for exe in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(exe)
        if path:
            return path
    return None


BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]


def export_pdf(decks: list[Path], out_dir: Path, chromium: str, browser=None) -> list[Path]:
    """Print built decks to PDF with headless Chromium, in reveal's ``?print-pdf`` layout (one slide a page).

    Playwright drives the machine's Chromium (never a browser it downloads) so the PDF is printed only
    after reveal.js has laid out the slides and KaTeX has typeset them.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise PaperclubError("slides-pdf: Playwright is missing; install the test extra (pip install -e '.[test]')") from err
    out_dir.mkdir(parents=True, exist_ok=True)
    if browser is None:
        with sync_playwright() as pw:
            own = pw.chromium.launch(executable_path=chromium, args=BROWSER_FLAGS)
            try:
                return export_pdf(decks, out_dir, chromium, own)
            finally:
                own.close()
    written = []
    for deck in decks:  # a browser the caller owns (the tests share one)
        page = browser.new_page()
        page.goto(deck.resolve().as_uri() + "?print-pdf", wait_until="load")
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
        page.wait_for_function("() => document.documentElement.dataset.mathTypeset === '1'", timeout=30_000)
        page.wait_for_timeout(300)
        out = out_dir / f"{deck.parent.name}.pdf"
        page.pdf(path=str(out), print_background=True, prefer_css_page_size=True)
        page.close()
        written.append(out)
    return written
