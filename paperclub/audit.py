"""Stage 7: audit a built site before it replaces the last good one.

Each problem is reported as one line naming the page:

* no page loads anything from outside the site (scripts, styles, images, fonts, frames, CSS ``url()``
  and ``@import``); links a reader clicks (``<a href>``) may point anywhere http(s);
* no markup the generator did not write: no inline event handler (``onload=…``), no ``javascript:`` URL,
  no frame or embedded object, and no ``<script>`` other than the theme's and the site's own;
* every internal link and anchor resolves to a file (and an ``id``) in the site;
* every expected page is present, and no page (with the search index every page loads) is over budget.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# (tag, attribute) pairs whose URL the browser loads by itself
LOADED = {("script", "src"), ("img", "src"), ("img", "srcset"), ("source", "src"), ("source", "srcset"),
          ("iframe", "src"), ("embed", "src"), ("object", "data"), ("video", "src"), ("video", "poster"),
          ("audio", "src"), ("track", "src"), ("input", "src"), ("image", "href"), ("use", "href")}
LINK_LOADS = {"stylesheet", "icon", "preload", "prefetch", "modulepreload", "manifest", "apple-touch-icon",
              "shortcut", "preconnect", "dns-prefetch"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
SKIP_SCHEMES = ("mailto:", "javascript:", "data:", "tel:", "blob:", "about:")
PAGE_BUDGET = 2 * 1024 * 1024   # bytes a page may make the browser load (DESIGN's budget)
EMBEDS = {"iframe", "frame", "object", "embed", "applet", "base"}
# inline scripts the theme writes on every page (Material for MkDocs): its config and two bootstraps
THEME_INLINE = (re.compile(r"^\s*__md_scope\s*=", re.S), re.compile(r"^\s*var\s+palette\s*=\s*__md_get", re.S),
                re.compile(r"^\s*var\s+target\s*=\s*document\.getElementById\(location\.hash\.slice\(1\)\)", re.S),
                re.compile(r"^\s*$"))


def is_external(url: str) -> bool:
    url = url.strip()
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url)) or url.startswith("//")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []     # URLs the browser fetches by itself
        self.links: list[str] = []     # URLs a reader may follow
        self.ids: set[str] = set()
        self.styles: list[str] = []
        self.unsafe: list[str] = []    # markup the generator never writes
        self.scripts: list[str] = []   # inline script bodies
        self.search_box = False        # the theme's search (its index is then fetched by the page)
        self._in_style = False
        self._in_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        for k, v in a.items():
            if k.lower().startswith("on"):
                self.unsafe.append(f"inline event handler <{tag} {k}=…>")
            if k.lower() in ("href", "src", "action", "formaction", "xlink:href", "data") and \
                    re.match(r"^\s*(javascript|vbscript):", v, re.I):
                self.unsafe.append(f"javascript: URL in <{tag} {k}>")
        if tag in EMBEDS:
            self.unsafe.append(f"<{tag}> element")
        if tag == "script":
            if a.get("type", "") == "application/json":
                self._in_script = None
            elif "src" in a:
                self._in_script = None
            else:
                self._in_script = ""
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(a[key])
        for attr, value in a.items():
            if (tag, attr) in LOADED and value:
                urls = [u.strip().split(" ")[0] for u in value.split(",")] if attr == "srcset" else [value]
                self.loads.extend(u for u in urls if u)
        if tag == "link" and a.get("href"):
            rels = set(a.get("rel", "").lower().split())
            (self.loads if rels & LINK_LOADS else self.links).append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("style"):
            self.styles.append(a["style"])
        if tag == "style":
            self._in_style = True
        if a.get("data-md-component") == "search":
            self.search_box = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        if tag == "script" and self._in_script is not None:
            self.scripts.append(self._in_script)
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)
        if self._in_script is not None:
            self._in_script += data


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def _resolve(site: Path, page: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment an internal URL points at, or None for URLs that are not files."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    if not parts.path:
        return page, unquote(parts.fragment)
    base = site if parts.path.startswith("/") else page.parent
    target = (base / unquote(parts.path.lstrip("/"))).resolve()
    if target.is_dir() or url.split("#")[0].split("?")[0].endswith("/"):
        target = target / "index.html"
    return target, unquote(parts.fragment)


# the only markup the theme's search index may carry (its previews are shown as HTML)
INDEX_TAGS = {"p", "code", "li", "ul", "ol", "pre", "em", "strong", "mark", "small"}   # small: Zensical keeps it
_INDEX_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)(\s[^<>]*)?>")


def safe_index_text(text: str) -> str:
    """Escape every ``<`` in search-index text that does not open a plain allowed tag.

    The theme's search shows previews as HTML and un-escapes the page's text when it indexes it, so
    escaped front matter such as ``&lt;svg onload=…&gt;`` would come back to life in a preview.
    """
    out, pos = [], 0
    for m in _INDEX_TAG.finditer(text):
        out.append(text[pos:m.start()].replace("<", "&lt;").replace(">", "&gt;"))
        plain = m.group(2).lower() in INDEX_TAGS and not m.group(3)
        out.append(m.group(0) if plain else m.group(0).replace("<", "&lt;").replace(">", "&gt;"))
        pos = m.end()
    out.append(text[pos:].replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out)


# where each engine writes its search index: MkDocs with Material, then Zensical
SEARCH_INDEXES = ("search/search_index.json", "search.json")


def search_indexes(site: Path) -> list[Path]:
    """The search indexes the engine wrote into ``site`` (none when the theme's search is off)."""
    return [site / rel for rel in SEARCH_INDEXES if (site / rel).is_file()]


def index_docs(data: object) -> list[dict]:
    """The indexed documents: Material's ``docs`` list or Zensical's ``items`` list."""
    if not isinstance(data, dict):
        return []
    docs = data.get("docs", data.get("items", []))
    return [d for d in docs if isinstance(d, dict)] if isinstance(docs, list) else []


def search_index_problems(site: Path, parsed: dict[Path, _Page] | None = None) -> list[str]:
    """Markup in the search index that paperclub did not write; a theme whose search is on (a page has the
    search box) but no index found is a problem too, so a check that finds nothing never passes."""
    import json

    problems = []
    indexes = search_indexes(site)
    if not indexes and any(info.search_box for info in (parsed or {}).values()):
        problems.append(f"search index: the pages have a search box but none of {', '.join(SEARCH_INDEXES)} "
                        "exists (an engine that writes its index elsewhere is not audited)")
    for index in indexes:
        rel = index.relative_to(site).as_posix()
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except ValueError as err:
            problems.append(f"{rel}: not valid JSON ({err})")
            continue
        docs = index_docs(data)
        if not docs:
            problems.append(f"{rel}: indexes no page")
        for doc in docs:
            for key in ("title", "text", "tags"):
                value = doc.get(key, "")
                value = " ".join(map(str, value)) if isinstance(value, list) else str(value)
                if safe_index_text(value) != value:
                    problems.append(f"{rel}: {doc.get('location', '?')}: {key} carries markup "
                                    f"paperclub did not write ({value[:40]!r}…)")
                    break
    return problems


def audit_site(site: Path, expected: list[str] | None = None, budget: int = PAGE_BUDGET) -> list[str]:
    """Every problem found in the built ``site`` (empty when it is clean)."""
    site = site.resolve()
    problems: list[str] = []
    pages = sorted(site.rglob("*.html"))
    parsed = {p: parse(p) for p in pages}
    for rel in expected or []:
        if not (site / rel).exists():
            problems.append(f"{rel}: expected page is missing")
    for page, info in parsed.items():
        rel = page.relative_to(site).as_posix()
        for what in sorted(set(info.unsafe)):
            problems.append(f"{rel}: markup paperclub did not write: {what}")
        for body in info.scripts:
            if not any(rx.match(body) for rx in THEME_INLINE):
                problems.append(f"{rel}: markup paperclub did not write: an inline <script> "
                                f"({body.strip()[:40]!r}…)")
        css_urls = [m.group(1) or m.group(2) for s in info.styles for m in CSS_URL.finditer(s)]
        for url in info.loads + css_urls:
            if is_external(url):
                problems.append(f"{rel}: loads an outside URL {url}")
        for url in info.loads + info.links:
            if is_external(url) or url.startswith(SKIP_SCHEMES):
                continue
            got = _resolve(site, page, url)
            if got is None:
                continue
            target, fragment = got
            if not target.exists():
                problems.append(f"{rel}: broken link {url}")
            elif fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if fragment not in ids:
                    problems.append(f"{rel}: broken anchor {url}")
    problems += search_index_problems(site, parsed)
    shared = max((index.stat().st_size for index in search_indexes(site)), default=0)
    for rel, weight in page_weights(site, parsed).items():
        # the theme's pages fetch the search index (the decks do not)
        info = parsed[site / rel]
        if any("javascripts/bundle" in u for u in info.loads):
            weight += shared
        if weight > budget:
            problems.append(f"{rel}: loads {weight / 2**20:.2f} MB (with the search index where the page uses "
                            f"it), over the {budget / 2**20:.0f} MB page budget")
    for css in sorted(site.rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="replace")
        for m in CSS_URL.finditer(text):
            url = m.group(1) or m.group(2)
            if is_external(url):
                problems.append(f"{css.relative_to(site).as_posix()}: loads an outside URL {url}")
    return problems


def page_weights(site: Path, parsed: dict[Path, _Page] | None = None) -> dict[str, int]:
    """Bytes each HTML page loads from the site: itself plus every local script, style and image it names."""
    site = site.resolve()
    weights: dict[str, int] = {}
    for page in sorted(site.rglob("*.html")):
        info = parsed[page] if parsed and page in parsed else parse(page)
        files = {page}
        for url in info.loads:
            if is_external(url) or url.startswith(SKIP_SCHEMES):
                continue
            got = _resolve(site, page, url)
            if got and got[0].exists():
                files.add(got[0])
        weights[page.relative_to(site).as_posix()] = sum(f.stat().st_size for f in files)
    return weights
