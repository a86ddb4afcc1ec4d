"""Stage 7: audit a built site before it replaces the last good one.

The audit reads every page the way a browser does, with an HTML5 parser (html5lib: character references
decoded, SVG and its ``xlink:`` attributes in their namespaces), reads CSS with a CSS tokenizer (tinycss2:
escapes decoded, ``url()``, ``image-set()`` and ``@import`` found wherever they are), and reads URLs as the
WHATWG URL standard does (:mod:`paperclub.urls`). It allows what paperclub and its theme write, rather than
looking for known attacks. Each problem is reported as one line naming the page:

* no page loads anything from outside the site: every attribute that makes the browser fetch by itself
  (``src``, ``srcset``, ``poster``, ``background``, ``data``, ``href`` outside ``<a>``/``<area>``/``<link>``,
  SVG ``xlink:href``, stylesheets and icons) and every URL in CSS; no form is sent outside it
  (``action``, ``formaction``, ``ping``); links a reader clicks (``<a href>``) may point anywhere http(s);
* no markup the generator did not write: no inline event handler (``onload=…``), no script URL in any
  attribute that holds a URL (``javascript:``, however it is spelled, or an HTML ``data:`` URL), no
  ``<meta http-equiv=refresh>``, no SVG animation of a link, no frame or embedded object, and no inline
  ``<script>`` but the exact bodies the theme's templates write; the theme's configuration
  (``id="__config"``) is the theme's own script, once, naming a search worker inside the site;
* every internal link and anchor resolves to a file (and an ``id``) in the site;
* every expected page is present, and no page (with the search index every page loads) is over budget.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from paperclub.urls import browser_form, is_external as _external, is_script

LINK_LOADS = {"stylesheet", "icon", "preload", "prefetch", "modulepreload", "manifest", "apple-touch-icon",
              "shortcut", "preconnect", "dns-prefetch", "prerender", "mask-icon", "import"}
SKIP_SCHEMES = ("mailto:", "javascript:", "data:", "tel:", "blob:", "about:")
PAGE_BUDGET = 2 * 1024 * 1024   # bytes a page may make the browser load (DESIGN's budget)
EMBEDS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal", "fencedframe"}
# attributes whose URL the browser fetches by itself, on any element
LOAD_ATTRS = {"src", "srcset", "imagesrcset", "poster", "background", "data", "codebase", "lowsrc", "dynsrc",
              "manifest", "archive", "classid"}
SEND_ATTRS = {"action", "formaction", "ping"}          # where a form or a click sends data
OTHER_URL_ATTRS = {"href", "cite", "longdesc", "usemap", "profile", "itemtype", "xmlns"}
NAVIGATE = {"a", "area"}                               # elements whose href a reader follows
ANIMATIONS = {"animate", "set", "animatemotion", "animatetransform", "animatecolor"}
META_OK = {"content-type", "x-ua-compatible", "default-style", "content-language"}
XLINK = "{http://www.w3.org/1999/xlink}"


def is_external(url: str) -> bool:
    return _external(url)


@functools.lru_cache(maxsize=1)
def theme_scripts() -> tuple[re.Pattern, ...]:
    """The exact bodies of the inline scripts the theme writes (Material for MkDocs, or Zensical's), from its
    installed templates;
    a template's ``{{ … }}`` (the page's base URL) matches only a relative base such as ``../..`` or a root
    path such as ``/`` (the 404 page), never a quote or anything else."""
    import importlib.util

    bodies = []
    folders = []   # Material for MkDocs, and Zensical's theme when that engine is installed
    for package in ("material", "zensical_ui"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            folders.append(Path(spec.origin).parent / "templates")
    for tpl in sorted(t for folder in folders for t in folder.rglob("*.html")):
        text = tpl.read_text(encoding="utf-8")
        for body in re.findall(r"<script>(.*?)</script>", text, re.S):
            if "{%" in body:
                continue
            parts = re.split(r"\{\{.*?\}\}", body)
            base = r"(?:\.{1,2}(?:/\.\.)*|/(?:[A-Za-z0-9._~-]+/)*)"    # relative, or the 404 page's root path
            bodies.append(re.compile(base.join(re.escape(p) for p in parts), re.S))
    return tuple(bodies)


def css_urls(css: str) -> list[str]:
    """Every URL a stylesheet or ``style`` attribute makes the browser fetch (tinycss2: escapes decoded)."""
    import tinycss2

    out: list[str] = []

    def walk(nodes) -> None:
        after_import = False
        for n in nodes or ():
            t = n.type
            if t == "url":
                out.append(n.value)
            elif t == "function":
                name = n.name.lower()
                strings = [a.value for a in n.arguments if a.type == "string"]
                if name in ("url", "src"):
                    out.extend(strings[:1])
                elif name.endswith("image-set") or name in ("image", "cross-fade", "element"):
                    out.extend(strings)
                walk(n.arguments)
            elif t == "string" and after_import:
                out.append(n.value)
            elif t in ("{} block", "[] block", "() block"):
                walk(n.content)
            if t == "at-keyword":
                after_import = n.value.lower() == "import"
            elif t not in ("whitespace", "comment"):
                after_import = False

    walk(tinycss2.parse_component_value_list(css, skip_comments=True))
    return out


class _Page:
    """What a page makes the browser do, read with an HTML5 parser."""

    def __init__(self) -> None:
        self.loads: list[str] = []     # URLs the browser fetches by itself
        self.links: list[str] = []     # URLs a reader may follow
        self.sends: list[str] = []     # URLs a form or a click sends data to
        self.ids: set[str] = set()
        self.styles: list[str] = []
        self.unsafe: list[str] = []    # markup the generator never writes
        self.scripts: list[str] = []   # inline script bodies
        self.search_box = False        # the theme's search (its index is then fetched by the page)
        self.config: list[str] = []    # bodies of id="__config" elements, in document order ('' for others)

    def element(self, tag: str, attrs: dict[str, str], text: str) -> None:
        if attrs.get("data-md-component") == "search":
            self.search_box = True
        for name, v in attrs.items():
            if name.startswith("on"):
                self.unsafe.append(f"inline event handler <{tag} {name}=…>")
            local = name.split(":")[-1]
            if local in LOAD_ATTRS | SEND_ATTRS | OTHER_URL_ATTRS:
                urls = [u.strip().split(" ")[0] for u in v.split(",")] if local.endswith("srcset") else [v]
                if any(is_script(u) for u in urls):
                    self.unsafe.append(f"javascript: URL in <{tag} {name}>")
        if tag in EMBEDS:
            self.unsafe.append(f"<{tag}> element")
        if tag == "meta" and attrs.get("http-equiv", "").strip().lower() not in META_OK | {""}:
            self.unsafe.append(f"<meta http-equiv={attrs['http-equiv'].strip().lower()}> (a redirect or header "
                               "paperclub never writes)")
        if tag in ANIMATIONS:
            target = attrs.get("attributename", "").split(":")[-1].strip().lower()
            values = [x for k in ("values", "to", "from", "by") for x in attrs.get(k, "").split(";")]
            if target in LOAD_ATTRS | SEND_ATTRS | OTHER_URL_ATTRS or any(is_script(x) for x in values if x):
                self.unsafe.append(f"SVG <{tag}> that changes a URL ({target or 'values'})")
        if tag == "script":
            if "src" in attrs or f"{XLINK}href" in attrs or "href" in attrs:
                pass
            elif attrs.get("type", "").strip().lower() == "application/json" and attrs.get("id") == "__config":
                pass
            else:
                self.scripts.append(text)
        if "id" in attrs:
            self.ids.add(attrs["id"])
            if attrs["id"] == "__config":
                theme = tag == "script" and attrs.get("type", "").strip().lower() == "application/json"
                self.config.append(text if theme else "")
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for name, v in attrs.items():
            local = name.split(":")[-1]
            if not v.strip():
                continue
            if local.endswith("srcset"):
                self.loads.extend(u for u in (x.strip().split(" ")[0] for x in v.split(",")) if u)
            elif local in LOAD_ATTRS:
                self.loads.append(v)
            elif local in SEND_ATTRS:
                self.sends.append(v)
            elif local == "href":
                if tag in NAVIGATE:
                    self.links.append(v)
                elif tag == "link":
                    rels = set(attrs.get("rel", "").lower().split())
                    (self.loads if rels & LINK_LOADS or not rels else self.links).append(v)
                else:                           # SVG <image>, <use>, <feImage>, <script> …: fetched
                    self.loads.append(v)
        if attrs.get("style"):
            self.styles.append(attrs["style"])
        if tag == "style":
            self.styles.append(text)


def _attrs(el) -> dict[str, str]:
    out = {}
    for k, v in el.attrib.items():
        if k.startswith(XLINK):
            k = "xlink:" + k[len(XLINK):]
        elif k.startswith("{"):
            k = k.split("}", 1)[1]
        out[k.lower()] = v
    return out


def parse_html(markup: str) -> _Page:
    import html5lib

    page = _Page()
    root = html5lib.parse(markup, treebuilder="etree", namespaceHTMLElements=False)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue                            # a comment
        tag = el.tag.split("}", 1)[-1].lower()
        attrs = _attrs(el)
        text = "".join(el.itertext()) if tag in ("script", "style") else ""
        page.element(tag, attrs, text)
    return page


def parse(path: Path) -> _Page:
    return parse_html(path.read_text(encoding="utf-8", errors="replace"))


def page_problems(info: _Page) -> list[str]:
    """The markup problems of one parsed page (without the site's links and weights)."""
    problems = [f"markup paperclub did not write: {what}" for what in sorted(set(info.unsafe))]
    allowed = theme_scripts()
    for body in info.scripts:
        if not any(rx.fullmatch(body) for rx in allowed):
            problems.append(f"markup paperclub did not write: an inline <script> ({body.strip()[:40]!r}…)")
    if info.config:
        if len(info.config) > 1 or not info.config[0]:
            problems.append("markup paperclub did not write: an element with id=\"__config\" besides the theme's "
                            "configuration")
        else:
            try:
                cfg = json.loads(info.config[0])
            except ValueError:
                cfg = None
            worker = cfg.get("search") if isinstance(cfg, dict) else None
            if not isinstance(cfg, dict) or (worker is not None and (not isinstance(worker, str) or _external(worker)
                                                                     or is_script(worker))):
                problems.append("markup paperclub did not write: the theme's configuration names a search worker "
                                "outside the site")
            elif isinstance(worker, str):
                info.links.append(worker)      # must exist (checked like a link); not counted in the page weight
    for url in info.sends:
        if _external(url):
            problems.append(f"sends a form to an outside URL {url}")
    for style in info.styles:
        for url in css_urls(style):
            if is_script(url):
                problems.append(f"markup paperclub did not write: javascript: URL in CSS")
            else:
                info.loads.append(url)
    return problems


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


INDEX_SCRIPT_PREFIX = "var __index = "   # search/search_index.js: the index as a script, for file:// pages


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
    index = site / "search" / "search_index.json"
    script = site / "search" / "search_index.js"
    if index.exists() and script.exists() and \
            script.read_text(encoding="utf-8") != INDEX_SCRIPT_PREFIX + index.read_text(encoding="utf-8"):
        problems.append("search/search_index.js: not the same index as search/search_index.json")
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
        problems += [f"{rel}: {what}" for what in page_problems(info)]
        for url in info.loads:
            if is_external(url):
                problems.append(f"{rel}: loads an outside URL {url}")
        for url in info.loads + info.links:
            if is_external(url) or browser_form(url).lower().startswith(SKIP_SCHEMES):
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
        for url in css_urls(text):
            if is_external(url) or is_script(url):
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
            if is_external(url) or browser_form(url).lower().startswith(SKIP_SCHEMES):
                continue
            got = _resolve(site, page, url)
            if got and got[0].exists():
                files.add(got[0])
        weights[page.relative_to(site).as_posix()] = sum(f.stat().st_size for f in files)
    return weights
