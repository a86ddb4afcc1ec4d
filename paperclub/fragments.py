"""Markdown fragments that pages, handouts and decks share: the claims table, the session line, safe text
from front matter, and display-math isolation.
"""
from __future__ import annotations

import html
import re

from paperclub.papers import Paper, Verdict, format_value


# --------------------------------------------------------------------------- safe text from front matter

# Markdown syntax front-matter text may not carry: attribute lists ({: #id }, { #__config }), links and
# footnotes ([…]), code spans (`) and escapes (\\). Each becomes a character reference,
# which Markdown passes through as the character itself and no extension reads as syntax; emphasis and
# math still work (emphasis cannot carry attributes without braces).
_NEUTRAL = {c: f"&#{ord(c)};" for c in "{}[]`\\"}


def _math_spans(s: str) -> list[tuple[int, int]]:
    """Where arithmatex (the site's math extension, with its own patterns) finds inline math in ``s``."""
    from pymdownx.arithmatex import RE_BRACKET_INLINE, RE_SMART_DOLLAR_INLINE

    rx = re.compile(f"(?:{RE_SMART_DOLLAR_INLINE}|{RE_BRACKET_INLINE})", re.S)
    return [m.span() for m in rx.finditer(s) if m.group(2) or m.group(5)]


def _neutral(s: str) -> str:
    # an escaped dollar stays a dollar (as Markdown shows it), and cannot open math once its backslash is gone
    return "".join(_NEUTRAL.get(c, c) for c in s.replace("\\$", "&#36;"))


def _neutralise(s: str, keep: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for a, b in keep:
        out.append(_neutral(s[pos:a]))
        out.append(s[a:b])
        pos = b
    out.append(_neutral(s[pos:]))
    return "".join(out)


def text(s: str) -> str:
    """A front-matter string placed in Markdown: no raw HTML and no Markdown syntax but emphasis and math.

    ``<``/``>``/``&`` become entities (so ``n<k and k>2`` reads as written and ``<svg onload=…>`` is inert
    text); braces, brackets, backticks and backslashes become character references outside math, so
    ``[x](javascript:…)`` is no link and ``*x*{ #__config }`` no attribute list; line breaks become spaces,
    so the text stays one paragraph wherever it is placed (an admonition, a table cell, a heading)."""
    return _safe(html.escape(" ".join(s.splitlines()), quote=False))


def _safe(s: str) -> str:
    out = _neutralise(s, _math_spans(s))
    # what is left unescaped must be exactly the math the site's extension will find in the result
    kept = "".join(out[a:b] for a, b in _math_spans(out))
    if sum(out.count(c) for c in _NEUTRAL) != sum(kept.count(c) for c in _NEUTRAL):
        out = _neutralise(s, [])
    return out


def fence(code: str, lang: str = "") -> str:
    """A fenced code block around ``code`` whose fence is longer than any backtick run inside it, so no line
    of the code can close it (a bibtex field with a line of three backticks, say)."""
    longest = max((len(r) for r in re.findall(r"`+", code)), default=0)
    f = "`" * max(3, longest + 1)
    return f"{f}{lang}\n{code}\n{f}"


def attr(s: str) -> str:
    """A front-matter string placed in an HTML attribute or element: escaped for HTML, and neutral as
    Markdown too (an element inside a ``markdown`` block has its text read as Markdown)."""
    return _safe(html.escape(s, quote=True))


def plain(s: str) -> str:
    """A front-matter string for the site engine's nav and ``<title>``, which the theme un-escapes
    (``striptags``): angle brackets become look-alike quotes, so no markup can survive any round trip."""
    return s.replace("&", "&amp;").replace("<", "‹").replace(">", "›").replace("\n", " ")


def page_title(s: str, search: bool = True) -> str:
    """A YAML front-matter block giving a staged page its ``<title>`` (pages outside the nav get theirs
    from the first heading otherwise, which the theme un-escapes); ``search=False`` keeps the page out
    of the search index (a handout repeats its paper page)."""
    import json
    meta = f"title: {json.dumps(plain(s), ensure_ascii=False)}\n" + ("" if search else "search: {exclude: true}\n")
    return f"---\n{meta}---\n\n"


def cell(s: str) -> str:
    """``text`` for a Markdown table cell (one line; no pipe, not even inside math, splits the cell)."""
    return text(s).replace("|", "\\|")


# --------------------------------------------------------------------------- sessions

def session_line(paper: Paper) -> str:
    """Date, time, presenter and room, or what is still to be announced (plain text, not escaped)."""
    s = paper.session
    if s.date is None:
        return "unscheduled"
    parts = [s.date.strftime("%a %d %b %Y") + (f", {s.time}" if s.time else "")]
    parts.append(f"presented by {s.presenter}" if s.presenter else "presenter to be announced")
    if s.room:
        parts.append(s.room)
    return " · ".join(parts)


# --------------------------------------------------------------------------- claims

VERDICT_HTML = {
    "holds": '<span class="pc-holds">✔&nbsp;holds</span>',
    "fails": '<span class="pc-fails">✘&nbsp;does&nbsp;not&nbsp;hold</span>',
    "vacuous": '<span class="pc-vacuous" title="the control passes too: this claim rules nothing out">'
               '⚠&nbsp;vacuous</span>',
    "missing": '<span class="pc-fails">✘&nbsp;not&nbsp;recorded</span>',
    "fragile": '<span class="pc-fragile" title="it fails on some seed of the sweep: the claim is not robust">'
               '⚠&nbsp;fragile</span>',
}


def verdict_kind(v: Verdict) -> str:
    if v.missing:
        return "missing"
    if not v.holds:
        return "fails"
    if v.vacuous:
        return "vacuous"
    return "fragile" if v.fragile else "holds"


def seed_note(v: Verdict, control: bool = False) -> str:
    """"5/5 seeds, 81–88 %" (our figure) or "0/5 seeds, 40–52 %" (the control), or "not re-run"."""
    s, c = v.seeds, v.claim
    if s is None:
        return "not re-run"
    lo, hi, held = (s.control_min, s.control_max, s.control_held) if control else (s.min, s.max, s.held)
    span = format_value(lo, c.fmt) if lo == hi else f"{format_value(lo, c.fmt)}–{format_value(hi, c.fmt)}"
    rule = "" if control or c.over_seeds == "all" else f", needs {c.over_seeds}"
    return f"{held}/{s.n} seeds{rule}, {span}"


def _metric_name(name: str) -> str:
    # let long snake_case names break at underscores, never mid-word
    return "<code>" + html.escape(name).replace("_", "_<wbr>") + "</code>"


HANDOUT_CLAIMS = 8   # rows a handout's compact claims table shows


def claims_table(paper: Paper, verdicts: list[Verdict], compact: bool = False) -> str:
    """The page's claims table: claim · paper's figure · ours · the control's · verdict.

    ``compact`` (handouts): claim · ours · control · verdict, figures only."""
    if not verdicts:
        return "*This paper states no measured claims yet.*"
    if compact:
        rows = ["| Claim | Ours | Control | |", "| --- | --- | --- | --- |"]
        shown = verdicts[:HANDOUT_CLAIMS]   # a handout is one A4 page: the rest are on the paper page
        for v in shown:
            c = v.claim
            control = (f"{format_value(v.control_value, c.fmt)} ({cell(c.control_label or c.control)})"
                       if c.control else "—")
            seeds = f" <small>({seed_note(v)})</small>" if v.seeds is not None else ""
            rows.append(f"| {cell(c.text)} | {format_value(v.value, c.fmt)}{seeds} | {control} | "
                        f"{VERDICT_HTML[verdict_kind(v)]} |")
        more = len(verdicts) - len(shown)
        if more:
            bad = sum(1 for v in verdicts[HANDOUT_CLAIMS:] if verdict_kind(v) != "holds")
            rows += ["", f"*… and {more} more claim{'s' if more > 1 else ''} on the paper page"
                         + (f" ({bad} of them not holding)" if bad else " (all holding)") + ".*"]
        return "\n".join(rows)
    lines = ["| Claim | In the paper | Our figure | Control | Verdict |", "| --- | --- | --- | --- | --- |"]
    for v in verdicts:
        c = v.claim
        ours = (f"**{format_value(v.value, c.fmt)}** <br><small>{_metric_name(c.metric)}, "
                f"expected {html.escape(c.expect)}</small><br><small class=\"pc-seeds\">{seed_note(v)}</small>")
        if c.control:
            label = cell(c.control_label or c.control)
            control = (f"{format_value(v.control_value, c.fmt)} <br><small>{label}</small>"
                       + (f"<br><small class=\"pc-seeds\">{seed_note(v, control=True)}</small>" if v.seeds else ""))
        else:
            control = "—"
        lines.append(f"| {cell(c.text)} | {cell(c.paper)} | {ours} | {control} | {VERDICT_HTML[verdict_kind(v)]} |")
    return "\n".join(lines)


def claims_slides_rows(verdicts: list[Verdict]) -> list[str]:
    """HTML table rows for the presenter's claims slides: claim, ours, control, verdict (no metric details)."""
    rows = []
    for v in verdicts:
        c = v.claim
        control = (f"{format_value(v.control_value, c.fmt)}<br><small>{attr(c.control_label or c.control)}</small>"
                   if c.control else "—")
        ours = format_value(v.value, c.fmt) + f"<br><small>{seed_note(v)}</small>"
        rows.append(f"<tr><td>{attr(c.text)}</td><td class=\"pc-num\">{ours}</td>"
                    f"<td class=\"pc-num\">{control}</td><td>{VERDICT_HTML[verdict_kind(v)]}</td></tr>")
    return rows


# --------------------------------------------------------------------------- Markdown helpers

def isolate_display_math(markdown: str) -> str:
    """Give every ``$$`` display block that starts a line a blank line before and after it.

    arithmatex treats ``$$…$$`` glued to a paragraph as inline math, where KaTeX rejects ``\\tag``;
    writers should not have to remember that.
    """
    out: list[str] = []
    fence, in_math = None, False
    for line in markdown.splitlines():
        m = re.match(r"^\s*(```+|~~~+)", line)
        if m and not in_math:
            fence = None if fence and line.strip().startswith(fence) else (fence or m.group(1))
            out.append(line)
            continue
        stripped = line.strip()
        if fence is None and not in_math and line.startswith("$$"):
            if out and out[-1].strip():
                out.append("")
            in_math = not (len(stripped) > 2 and stripped.endswith("$$"))
            out.append(line)
            if not in_math:
                out.append("")
            continue
        if in_math and stripped.endswith("$$"):
            in_math = False
            out.append(line)
            out.append("")
            continue
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def demote_headings(markdown: str, by: int = 2) -> str:
    """Push every ATX heading down ``by`` levels, leaving fenced code alone."""
    out, fence = [], None
    for line in markdown.splitlines():
        m = re.match(r"^(```+|~~~+)", line)
        if m:
            fence = None if fence and line.startswith(fence) else (fence or m.group(1))
        elif fence is None and re.match(r"^#{1,6}\s", line):
            hashes = len(line) - len(line.lstrip("#"))
            line = "#" * min(6, hashes + by) + line[hashes:]
        out.append(line)
    return "\n".join(out)
