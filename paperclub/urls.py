"""URLs read the way a browser reads them (the WHATWG URL standard), for the front matter and the audit.

A browser strips leading and trailing C0 controls and spaces from a URL and removes every tab and
newline inside it *before* it looks at the scheme: ``"\\x01javascript:…"`` and ``"java\\tscript:…"`` are
``javascript:`` URLs. So every check here first does the same (:func:`browser_form`), then looks at the
scheme.

* :func:`front_matter_link` validates a link a paper file gives (``links.paper`` …): http(s) or relative
  only, no control characters or spaces at all, and the characters that would end or extend a Markdown
  link (``( ) [ ] < > { } \\ `` and quotes) percent-encoded, so the URL cannot leave its ``(…)``;
* :func:`scheme`, :func:`is_external` and :func:`is_script` classify a URL found in a built page.
"""
from __future__ import annotations

import re
import unicodedata

_C0_OR_SPACE = "".join(chr(i) for i in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
SCRIPT_SCHEMES = {"javascript", "vbscript", "livescript"}
ALLOWED_SCHEMES = {"http", "https"}
# characters that would end a Markdown link's (…), open an attribute list or an HTML tag, or escape
ENCODE = {c: f"%{ord(c):02X}" for c in "()[]<>{}\\`'\"|^"}
# an HTML character reference: Markdown may pass it through and the browser would decode it
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*;)")


def browser_form(url: str) -> str:
    """``url`` as a browser's URL parser sees it: C0 controls and spaces stripped from both ends, every
    tab and newline removed."""
    return _TAB_NEWLINE.sub("", url.strip(_C0_OR_SPACE))


def scheme(url: str) -> str:
    """The lower-case scheme a browser finds in ``url`` (``""`` for a relative URL)."""
    m = _SCHEME.match(browser_form(url))
    return m.group(1).lower() if m else ""


def is_external(url: str) -> bool:
    """Whether a browser loading ``url`` from a page of the site would leave the site: any scheme but
    ``data:``/``blob:``/``about:`` (which load nothing from a server), or a scheme-relative ``//host``
    (browsers read ``\\`` as ``/`` there)."""
    u = browser_form(url)
    s = scheme(u)
    if s:
        return s not in ("data", "blob", "about")
    return bool(re.match(r"^[/\\]{2}", u))


def is_script(url: str) -> bool:
    """A URL that runs script when followed or loaded (``javascript:``, or an HTML/SVG ``data:`` URL)."""
    s = scheme(url)
    if s in SCRIPT_SCHEMES:
        return True
    if s == "data":
        mime = browser_form(url)[5:].split(",", 1)[0].split(";", 1)[0].strip().lower()
        # an image (SVG included) runs no script; an HTML or script document would, where it may open
        return mime in ("text/html", "application/xhtml+xml", "text/javascript", "application/javascript")
    return False


def front_matter_link(url: str) -> str:
    """A link from a paper file, made safe for a Markdown ``[text](url)``; ValueError says what is wrong.

    Control characters and spaces anywhere are refused (browsers would strip or remove them, and hide the
    real scheme behind them); the scheme must be http(s), or there is none (a relative link); an HTML
    character reference (``&#106;``) is refused (it could spell a scheme); characters that would end the
    Markdown link are percent-encoded."""
    bad = [c for c in url if unicodedata.category(c)[0] in "CZ" or c.isspace()]
    if bad:
        raise ValueError(f"a URL may not contain spaces or control characters (found {bad[0]!r} in {url!r})")
    s = scheme(url)
    if s and s not in ALLOWED_SCHEMES:
        raise ValueError(f"expected an http(s) URL or a relative link (got {url!r})")
    if s and not re.match(r"^https?://[^/\\?#@]", url, re.I):
        raise ValueError(f"expected an http(s) URL with a host, like 'https://arxiv.org/abs/…' (got {url!r})")
    if not s and re.match(r"^[/\\]{2}", url):
        raise ValueError(f"write the scheme: 'https:{url}' (got {url!r})")
    if not s and ":" in url.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
        raise ValueError(f"expected an http(s) URL or a relative link (got {url!r})")
    if _ENTITY.search(url):
        raise ValueError(f"a URL may not contain HTML character references like '&#106;' (got {url!r})")
    if not url:
        raise ValueError("a URL may not be empty")
    return "".join(ENCODE.get(c, c) for c in url)
