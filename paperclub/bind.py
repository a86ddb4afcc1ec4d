"""Numbers bound to the run: ``{{ metric:fmt }}`` references, the static scan of ``record()`` calls, and
the lint that catches a measured number typed by hand.

A page or deck never repeats a measured figure as a literal: it names the recorded metric and the build
renders it from the same run, so the prose cannot drift from the notebook.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any, Iterator

from paperclub.errors import PaperclubError
from paperclub.papers import check_format_spec, format_value

# {{ name }} or {{ name:fmt }}; {{ claims }} is the deck's claims table, not a metric. No two quantifiers
# here can match the same spaces (the format is stripped afterwards): a '{{ name:' followed by thousands
# of spaces and no '}}' is rejected in linear time instead of backtracking for minutes
REF = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::([^{}]*))?\}\}")
RESERVED = {"claims"}
# {{! 75 % }}: a number that is not ours to bind (the paper's own, or a setting); shown as written,
# and the literal-number lint leaves it alone
LITERAL = re.compile(r"\{\{!((?:[^{}]|\{[^{}]*\})*)\}\}")   # one level of braces inside: {{! $x^{2}$ }}
# code, where a reference is shown as written (so a page can show the syntax itself)
_CODE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)"
                   r"|(?<!`)(`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)\2(?!`)", re.S | re.M)   # inline: within a paragraph


def _fmt(m: re.Match) -> str | None:
    return (m.group(2) or "").strip() or None


def _outside_code(rx: re.Pattern, text: str) -> Iterator[re.Match]:
    """Matches of ``rx`` in ``text`` that are not inside fenced or inline code."""
    code = [m.span() for m in _CODE.finditer(text)]
    for m in rx.finditer(text):
        if not any(a <= m.start() < b for a, b in code):
            yield m


@dataclass(frozen=True)
class Ref:
    name: str
    fmt: str | None
    line: int


def refs(text: str) -> list[Ref]:
    """Every metric reference in ``text``, with its 1-based line."""
    out = []
    for m in _outside_code(REF, text):
        if m.group(1) in RESERVED:
            continue
        out.append(Ref(m.group(1), _fmt(m), text.count("\n", 0, m.start()) + 1))
    return out


def ref_problems(text: str, where: str, recorded: set[str] | None, line_offset: int = 0) -> list[str]:
    """One line per bad reference: an unknown metric (when ``recorded`` is known) or a bad format spec."""
    problems = []
    for r in refs(text):
        at = f"{where}:{r.line + line_offset}"
        if recorded is not None and r.name not in recorded:
            problems.append(f"{at}: {{{{ {r.name} }}}} names a metric the notebook never records"
                            + (f" (recorded: {', '.join(sorted(recorded))})" if recorded else ""))
        if r.fmt is not None:
            try:
                check_format_spec(r.fmt)
            except ValueError as err:
                problems.append(f"{at}: {{{{ {r.name}:{r.fmt} }}}}: {err}")
    return problems


def render_refs(text: str, metrics: dict[str, Any], where: str) -> str:
    """Replace each reference with the recorded figure; an unrecorded name is an error naming the file.
    Inside code (fenced or inline) a reference is shown as written."""
    def sub(m: re.Match) -> str:
        name, fmt = m.group(1), _fmt(m)
        if name in RESERVED:
            return m.group(0)
        if name not in metrics:
            line = text.count("\n", 0, m.start()) + 1
            raise PaperclubError(f"{where}:{line}: {{{{ {name} }}}} was not recorded by the notebook's last run")
        return format_value(metrics[name], fmt or ".3g")

    out, pos = [], 0
    for m in sorted([*_outside_code(REF, text), *_outside_code(LITERAL, text)], key=lambda m: m.start()):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        out.append(m.group(1).strip() if m.re is LITERAL else sub(m))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------- what a notebook records

def recorded_names(source: str) -> tuple[set[str], list[int]]:
    """Names passed as literals to ``record(...)`` / ``paperclub.record(...)``, and the lines of calls whose
    name is computed (which a static check cannot see). Raises SyntaxError for invalid source."""
    names: set[str] = set()
    dynamic: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        is_record = (isinstance(f, ast.Name) and f.id == "record") or \
                    (isinstance(f, ast.Attribute) and f.attr == "record" and isinstance(f.value, ast.Name)
                     and f.value.id == "paperclub")
        if not is_record or not node.args:
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
        else:
            dynamic.append(node.lineno)
    return names, dynamic


# --------------------------------------------------------------------------- the literal-number lint

_SKIP = re.compile(r"```.*?```|~~~.*?~~~|\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]*`|\{\{.*?\}\}|\]\([^)]*\)|<[^>\n]*>"
                   r"|https?://\S+", re.S)
_NUMBER = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(\s?%|\s?×|x\b)?(?![\w.]*\d)")


def _significant(digits: str) -> int:
    return len(digits.replace(".", "").lstrip("0"))


def literal_numbers(text: str, metrics: dict[str, Any]) -> Iterator[tuple[int, str, str]]:
    """``(line, literal, metric)`` for each number in prose that equals a recorded float at its precision.

    Code, math, links, HTML tags and references are skipped. A decimal needs two significant digits, a
    whole number followed by % or × two digits, and a bare whole number three, so counts and settings
    ("8 modes", "3 iterations") are not mistaken for measurements.
    """
    floats = {k: float(v) for k, v in metrics.items()
              if isinstance(v, float) and not isinstance(v, bool) and math.isfinite(v)}
    if not floats:
        return
    masked = _SKIP.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for m in _NUMBER.finditer(masked):
        lit, unit = m.group(1), (m.group(2) or "").strip()
        decimals = len(lit.split(".")[1]) if "." in lit else 0
        sig = _significant(lit)
        if (decimals and sig < 2) or (not decimals and sig < (2 if unit else 3)):
            continue
        value = float(lit)
        for name, v in floats.items():
            candidates = [v, 100 * v] if unit == "%" else [v]
            if not decimals and v.is_integer():
                continue  # an integral figure stored as float: counts look like settings
            if any(abs(round(c, decimals) - value) < 0.5 * 10 ** -decimals * 1e-6 + 1e-12 or
                   f"{c:.{decimals}f}" == lit for c in candidates):
                yield masked.count("\n", 0, m.start()) + 1, m.group(0).strip(), name
                break
