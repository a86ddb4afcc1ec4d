"""The notes' own raw HTML, through an allowlist sanitizer (nh3, the binding of the Ammonia library).

A paper's notes are Markdown, and Markdown lets raw HTML through. Rather than look for known attacks,
every HTML tag in the notes (outside code and math) is rebuilt by nh3 from an allowlist of elements and
attributes: what the list allows is kept (``<details>``, ``<small>``, ``<div class="…" markdown>``, links
that are http(s) or relative, images inside the site), anything else is shown as the text it is
(``&lt;script&gt;…``), so nothing the writer typed is silently lost. Comments are dropped. Attribute
lists (``{: … }``) that would set an event handler, a URL, a style or one of the theme's own ids are
shown as text too.
"""
from __future__ import annotations

import html
import re

from paperclub import urls

TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr",
        "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong",
        "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var", "wbr"}
GLOBAL_ATTRS = {"class", "title", "lang", "dir", "id", "markdown", "data-search-exclude", "aria-hidden",
                "aria-label", "role"}
ATTRS = {"*": GLOBAL_ATTRS, "a": {"href"}, "img": {"src", "alt", "width", "height", "loading"},
         "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align", "scope"},
         "details": {"open"}, "ol": {"start", "type"}, "col": {"span"}, "colgroup": {"span"}}
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_:.-]*$")

_TAG = re.compile(r"""<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*/?>""")
# Markdown's autolinks (http(s)/ftp and e-mail), which stay as written
_AUTOLINK = r"<(?:(?:[Ff]|[Hh][Tt])[Tt][Pp][Ss]?://[^<>\s]*|[^<> !]+@[^@<> ]+)>"
_TAG_OR_AUTOLINK = re.compile(f"(?P<auto>{_AUTOLINK})|{_TAG.pattern}")
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_OTHER = re.compile(r"<(?=[A-Za-z/!?])")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# where Python-Markdown's attr_list extension looks: {: … } or { … } (we check every brace group)
_ATTR_LIST = re.compile(r"\{:?[ ]*([^}\n ][^}\n]*)[ ]*\}")
_DANGEROUS_KEY = re.compile(r"^(on.*|style|srcdoc|form.*|href|src|srcset|action|data|poster|background|xlink:.*|"
                            r"target|ping|http-equiv|content|name)$", re.I)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "id" and (not _ID.match(value) or value.startswith("__")):
        return None                      # the theme reads its own ids (``__config``): never one of those
    if attr in ("href", "src"):
        if urls.is_script(value) or urls.scheme(value) not in ("", "http", "https"):
            return None
        if attr == "src" and urls.is_external(value):
            return None                  # an image from outside the site would be loaded by every reader
    return value


def clean_tag(tag: str) -> str:
    """One start or end tag as the allowlist allows it, or the tag as visible text."""
    import nh3

    m = _TAG.fullmatch(tag)
    if not m or m.group(2).lower() not in TAGS:
        return html.escape(tag, quote=False)
    name = m.group(2).lower()
    if m.group(1):
        return f"</{name}>"
    out = nh3.clean(tag, tags=TAGS, attributes=ATTRS, attribute_filter=_attribute_filter,
                    url_schemes={"http", "https"}, link_rel=None, strip_comments=True)
    out = out.split(f"</{name}>", 1)[0]
    if not out.startswith(f"<{name}"):
        return html.escape(tag, quote=False)
    return out.replace(' markdown=""', ' markdown="1"')


def _attr_list(m: re.Match) -> str:
    from markdown.extensions.attr_list import get_attrs_and_remainder

    try:
        pairs, _ = get_attrs_and_remainder(m.group(1))
    except Exception:  # pragma: no cover - an attribute list the extension cannot read is not one
        return m.group(0)
    for key, value in pairs:
        if key in ("#", "id"):
            if not _ID.match(value) or value.startswith("__"):
                break
        elif key not in (".", "class") and _DANGEROUS_KEY.match(key):
            break
    else:
        return m.group(0)
    return m.group(0).replace("{", "&#123;").replace("}", "&#125;")


def _clean_text(s: str) -> str:
    """Sanitise a stretch of Markdown that is neither code nor math."""
    s = _COMMENT.sub("", s)
    out, pos = [], 0
    for m in _TAG_OR_AUTOLINK.finditer(s):
        out.append(_OTHER.sub("&lt;", s[pos:m.start()]))
        out.append(m.group(0) if m.group("auto") else clean_tag(m.group(0)))
        pos = m.end()
    out.append(_OTHER.sub("&lt;", s[pos:]))
    return _ATTR_LIST.sub(_attr_list, "".join(out))


def _inline_code_and_math(s: str) -> list[tuple[int, int]]:
    """Spans of inline code (backtick runs of equal length) and math, which Markdown shows as text."""
    from pymdownx.arithmatex import RE_BRACKET_INLINE, RE_DOLLAR_BLOCK, RE_SMART_DOLLAR_INLINE

    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", s, re.S):
        spans.append(m.span())
    rx = re.compile(f"(?:{RE_DOLLAR_BLOCK})|(?:{RE_SMART_DOLLAR_INLINE}|{RE_BRACKET_INLINE})", re.S)
    for m in rx.finditer(s):
        if m.group(0).startswith(("$", "\\(")) and not any(a <= m.start() < b for a, b in spans):
            spans.append(m.span())
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a < merged[-1][1]:
            continue
        merged.append((a, b))
    return merged


def notes_markdown(markdown: str) -> str:
    """The notes with every raw HTML tag rebuilt from the allowlist (see the module docstring); fenced
    code, inline code and math are left exactly as written (Markdown shows them as text)."""
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None

    def flush() -> None:
        if prose:
            text = "\n".join(prose)
            pieces, pos = [], 0
            for a, b in _inline_code_and_math(text):
                pieces.append(_clean_text(text[pos:a]))
                pieces.append(text[a:b])
                pos = b
            pieces.append(_clean_text(text[pos:]))
            out.append("".join(pieces))
            prose.clear()

    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            flush()
            fence = m.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
        else:
            prose.append(line)
    flush()
    return "\n".join(out)
