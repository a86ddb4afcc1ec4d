"""Stage 1: load and validate ``papers/<slug>.md``.

Each paper file is YAML front matter (validated by :class:`Paper`) and a Markdown
body of study notes split into ``## `` sections. Every problem is reported as one
line naming the file and the field; :func:`check_papers` collects them all.
"""
from __future__ import annotations

import datetime as dt
import keyword
import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from paperclub.errors import PaperclubError

SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")  # its module (``-`` → ``_``) must be a Python name
EXPECT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false)\s*$")
_OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
        ">": operator.gt, "<": operator.lt}


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings, so pydantic reports a bad date with its field name."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 2}); the second would silently win",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _safe_url(v: Optional[str]) -> Optional[str]:
    """http(s) or relative, read as a browser reads it, and safe inside a Markdown link (see paperclub.urls)."""
    from paperclub.urls import front_matter_link

    return None if v is None else front_matter_link(v)


MAX_SLUG = 60   # characters: the slug names five files (tests/test_<module>.py …) and a URL


def shadowed_module(slug: str) -> str | None:
    """The importable module a paper's notebook ``notebooks/<slug>.py`` would hide from every notebook (they
    run in ``notebooks/``, which comes first on their path): ``numpy``, ``torch``, ``json``, ``paperclub`` …"""
    import importlib.machinery
    import os
    import sys

    if "-" in slug:
        return None          # 'my-paper.py' is no importable name
    if slug in sys.stdlib_module_names or slug in sys.builtin_module_names or slug in ("paperclub", "minimal_impls"):
        return slug
    here = {"", ".", os.getcwd()}
    path = [p for p in sys.path if p not in here]
    try:
        return slug if importlib.machinery.PathFinder.find_spec(slug, path) is not None else None
    except (ImportError, ValueError):  # pragma: no cover - a broken path entry
        return None


def check_heading_text(v: str) -> str:
    """A title becomes a page heading, whose id the site engine makes from its words: refuse a title whose id
    would start with ``_`` (the theme's own ids, such as ``__config``, do: a heading would take its place)."""
    from markdown.extensions.toc import slugify

    if slugify(v, "-").startswith("_"):
        raise ValueError("may not start with '_' (the page heading's id would start with '_', like the ids the "
                         "site's theme reserves for itself, such as '__config')")
    return v


class Links(Strict):
    paper: str
    code: Optional[str] = None
    project: Optional[str] = None

    @field_validator("paper", "code", "project")
    @classmethod
    def _url(cls, v: Optional[str]) -> Optional[str]:
        return _safe_url(v)


class Session(Strict):
    date: Optional[dt.date] = None
    time: Optional[str] = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    presenter: Optional[str] = None
    room: Optional[str] = None

    @field_validator("date")
    @classmethod
    def _date(cls, v: Optional[dt.date]) -> Optional[dt.date]:
        if v is not None and not 1900 <= v.year <= 2100:
            raise ValueError(f"expected a date between 1900 and 2100 (got {v.isoformat()})")
        return v


class Claim(Strict):
    text: str = Field(min_length=1)
    paper: str = Field(min_length=1, description="the paper's figure or section this claim comes from")
    metric: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    expect: str
    fmt: str = Field(default=".3g", description="format spec for the recorded figure")
    control: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                   description="a metric from a broken or naive variant that must NOT satisfy expect")
    control_label: Optional[str] = Field(default=None, min_length=1, max_length=60,
                                         description="a few words naming the control, e.g. 'untrained G'")
    over_seeds: str = Field(default="all", pattern=r"^(all|median|[1-9][0-9]? of [1-9][0-9]?)$",
                            description="how the claim is judged over a sweep's seeds: on every seed ('all', "
                                        "the default), on the median, or on at least K of N ('4 of 5'); say why "
                                        "in the notes when it is not 'all'")

    @field_validator("expect")
    @classmethod
    def _expect(cls, v: str) -> str:
        m = EXPECT.match(v)
        if not m:
            raise ValueError("expected an operator and a number, like '>= 0.85' or '== true'")
        if m.group(2) not in ("true", "false") and not math.isfinite(float(m.group(2))):
            raise ValueError(f"the number must be finite (a float cannot hold {m.group(2)})")
        return v

    @field_validator("fmt")
    @classmethod
    def _fmt(cls, v: str) -> str:
        return check_format_spec(v)

    def holds(self, value: Any) -> bool:
        """Evaluate ``expect`` against a recorded value (a missing or non-numeric value never holds)."""
        m = EXPECT.match(self.expect)
        if m is None:  # unreachable: the validator accepted expect
            return False
        op, rhs = _OPS[m.group(1)], m.group(2)
        if rhs in ("true", "false"):
            return isinstance(value, bool) and bool(op(value, rhs == "true"))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return bool(op(value, float(rhs)))

    def required(self, n: int) -> int:
        """On how many of ``n`` seeds the claim must hold (and its control fail) under ``over_seeds``."""
        if self.over_seeds == "all":
            return n
        if self.over_seeds == "median":
            return 0   # judged on the median instead
        k, _, of = self.over_seeds.partition(" of ")
        return min(n, -(-int(k) * n // int(of)))   # "4 of 5" on 10 seeds asks for 8

    def verdict(self, metrics: dict[str, Any], runs: list[dict[str, Any]] | None = None) -> "Verdict":
        """The one place a claim is judged: our figure against ``expect``, the control against it too, and,
        when a sweep re-ran the notebook (``runs``: the metrics of seeds 0…N-1), both on every seed."""
        value = metrics.get(self.metric)
        control = metrics.get(self.control) if self.control else None
        return Verdict(claim=self, value=value, control_value=control,
                       holds=value is not None and self.holds(value),
                       control_holds=self.control is not None and control is not None and self.holds(control),
                       seeds=SeedRecord.of(self, runs) if runs else None)


def _numbers(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float))]


@dataclass(frozen=True)
class SeedRecord:
    """A claim over a sweep's seeds: how many ran, on how many it held, and the ranges of both figures."""
    n: int
    held: int                   # seeds on which our figure satisfies expect
    control_held: int           # seeds on which the control satisfies it too (should be 0)
    min: float | None
    max: float | None
    control_min: float | None
    control_max: float | None
    median_holds: bool          # the median of our figures satisfies expect
    control_median_holds: bool

    @classmethod
    def of(cls, claim: "Claim", runs: list[dict[str, Any]]) -> "SeedRecord":
        ours = [r.get(claim.metric) for r in runs]
        theirs = [r.get(claim.control) for r in runs] if claim.control else []
        nums, cnums = _numbers(ours), _numbers(theirs)
        med = (lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2)
        return cls(n=len(runs), held=sum(v is not None and claim.holds(v) for v in ours),
                   control_held=sum(v is not None and claim.holds(v) for v in theirs),
                   min=min(nums) if nums else None, max=max(nums) if nums else None,
                   control_min=min(cnums) if cnums else None, control_max=max(cnums) if cnums else None,
                   median_holds=bool(nums) and len(nums) == len(ours) and claim.holds(med(nums)),
                   control_median_holds=bool(cnums) and claim.holds(med(cnums)))

    def as_json(self) -> dict[str, Any]:
        return {"n": self.n, "held": self.held, "min": self.min, "max": self.max,
                "control_min": self.control_min, "control_max": self.control_max}


@dataclass(frozen=True)
class Verdict:
    """How one claim fared on one run: the figure, the control's figure, and what they mean."""
    claim: Claim
    value: Any
    control_value: Any
    holds: bool
    control_holds: bool
    seeds: SeedRecord | None = None     # None: no current sweep re-ran the notebook

    @property
    def missing(self) -> list[str]:
        """Metrics the claim names that the run did not record."""
        out = [self.claim.metric] if self.value is None else []
        if self.claim.control and self.control_value is None:
            out.append(self.claim.control)
        return out

    @property
    def vacuous(self) -> bool:
        """The control passes as well (on the page's run, or on any seed of a sweep): the claim rules
        nothing out."""
        if self.control_holds:
            return True
        s = self.seeds
        if s is None or not self.claim.control:
            return False
        if self.claim.over_seeds == "median":
            return s.control_median_holds
        return s.control_held > s.n - self.claim.required(s.n)

    @property
    def fragile(self) -> bool:
        """A sweep re-ran the notebook and the claim failed on a seed (or on the median, or on more seeds
        than its ``over_seeds`` allows)."""
        s = self.seeds
        if s is None:
            return False
        if self.claim.over_seeds == "median":
            return not s.median_holds
        return s.held < self.claim.required(s.n)

    @property
    def ok(self) -> bool:
        return self.holds and not self.vacuous and not self.missing and not self.fragile

    def problem(self) -> str | None:
        """One line saying what is wrong, or None when the claim holds and its control fails it."""
        c = self.claim
        if self.missing:
            return f"claim '{c.metric}': metric {', '.join(map(repr, self.missing))} was not recorded by the notebook"
        if not self.holds:
            return f"claim '{c.metric}' does not hold ({format_value(self.value, c.fmt)}, expected {c.expect})"
        if self.vacuous:
            if self.control_holds:
                return (f"claim '{c.metric}' is vacuous: its control '{c.control}' passes too "
                        f"({format_value(self.control_value, c.fmt)}, expected {c.expect})")
            s = self.seeds
            return (f"claim '{c.metric}' is vacuous over seeds: its control '{c.control}' passes on "
                    f"{s.control_held} of {s.n} seeds ({format_value(s.control_min, c.fmt)}–"
                    f"{format_value(s.control_max, c.fmt)}, expected {c.expect})")
        if self.fragile:
            s = self.seeds
            rule = "" if c.over_seeds == "all" else f" (needs {c.over_seeds})"
            return (f"claim '{c.metric}' is fragile: it holds on {s.held} of {s.n} seeds{rule} "
                    f"({format_value(s.min, c.fmt)}–{format_value(s.max, c.fmt)}, expected {c.expect})")
        return None


# Python's format mini-language for a number: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?(?P<type>[eEfFgGn%d]?)$",
                   re.S)
MAX_WIDTH = 40   # characters a figure may take on a page; a huge width would allocate gigabytes


def check_format_spec(spec: str) -> str:
    """Reject a format spec that cannot show a recorded number: not a number format (``'c'``, ``'s'``),
    a width or precision over :data:`MAX_WIDTH`, or one Python cannot apply."""
    m = _SPEC.match(spec)
    if not m:
        raise ValueError("not a Python format spec for a number, like '.3f', '.1%' or 'd'")
    for part in ("width", "precision"):
        if m.group(part) and int(m.group(part)) > MAX_WIDTH:
            raise ValueError(f"a {part} of at most {MAX_WIDTH} characters (got {int(m.group(part))})")
    try:
        format(0.5, spec) if m.group("type") != "d" else format(1, spec)
    except (ValueError, TypeError):
        raise ValueError("not a Python format spec for a number, like '.3f', '.1%' or 'd'") from None
    return spec


def format_value(value: object, fmt: str = ".3g") -> str:
    """A recorded figure as the pages show it; never raises (an integer too large for a float included)."""
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        try:
            return format(value, fmt)
        except (ValueError, TypeError, OverflowError):
            pass
        try:
            # 'd' on a float that happens to be integral, '.3f' on an int, an int beyond float range
            if fmt.endswith("d") and float(value).is_integer():
                return format(int(value), fmt)
            from decimal import Decimal

            return format(Decimal(value), fmt if not fmt.endswith("d") else ".3e")
        except (ValueError, TypeError, OverflowError, ArithmeticError):
            return format(Decimal(value), ".3e") if isinstance(value, int) else str(value)
    return str(value)


class Needs(Strict):
    """What a paper's notebook needs beyond a laptop CPU."""
    gpu: int = Field(default=0, ge=0, le=8, description="GPUs: runs go only to Dask workers started with "
                                                        "--resources GPU=1")


class Handout(Strict):
    equations: list[str] = Field(default_factory=list, description="the \\tag numbers of the equations to print")
    figure: Optional[str] = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                  description="the savefig name of one figure to print")


class Paper(Strict):
    """The front matter of one paper file."""

    title: str = Field(min_length=1)
    authors: list[str] = Field(min_length=1)
    year: int = Field(ge=1900, le=2100)
    venue: str
    links: Links
    tags: list[str] = Field(default_factory=list)
    tldr: str = Field(min_length=1)
    session: Session = Field(default_factory=Session)
    prerequisites: list[str] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    bibtex: Optional[str] = None
    status: Literal["ready", "draft"] = "ready"
    handout: Optional[Handout] = None
    needs: Needs = Field(default_factory=Needs)
    inputs: list[str] = Field(default_factory=list, description="data files the notebook reads, relative to "
                                                                "the project root (part of its cache key)")
    # set by the loader, not by the file
    slug: str = ""
    path: Path = Path()
    body: str = ""

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        return check_heading_text(v)

    @property
    def label(self) -> str:
        """The paper file as messages name it."""
        return label(self.path)

    @property
    def module(self) -> str:
        return self.slug.replace("-", "_")

    def verdicts(self, metrics: dict[str, Any], runs: list[dict[str, Any]] | None = None) -> list[Verdict]:
        """Each claim judged on the page's run, and over the sweep's seeds when ``runs`` is given."""
        return [c.verdict(metrics, runs) for c in self.claims]

    def claim(self, metric: str) -> Claim:
        """The claim on ``metric`` (tests read thresholds from here: one source of truth)."""
        for c in self.claims:
            if c.metric == metric:
                return c
        raise KeyError(f"{self.label}: no claim on metric {metric!r} "
                       f"(claims: {', '.join(c.metric for c in self.claims) or 'none'})")

    def sections(self) -> dict[str, str]:
        """The body split on ``## `` headings: {heading: text}; text before any heading is ''."""
        return split_sections(self.body)

    def bibtex_entry(self) -> str:
        if self.bibtex:
            return self.bibtex.strip()
        first = re.sub(r"[^a-z]", "", self.authors[0].split()[-1].lower())
        key = f"{first}{self.year}{re.sub(r'[^a-z]', '', self.title.split()[0].lower())}"
        return (f"@inproceedings{{{key},\n  title = {{{self.title}}},\n"
                f"  author = {{{' and '.join(self.authors)}}},\n"
                f"  booktitle = {{{self.venue}}},\n  year = {{{self.year}}},\n"
                f"  url = {{{self.links.paper}}}\n}}")


def label(path: Path) -> str:
    """``papers/<file>`` for a paper file in a project's papers folder, else the file's name."""
    return f"{path.parent.name}/{path.name}" if path.parent.name == "papers" else path.name


def split_sections(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    current = ""
    lines: list[str] = []
    for line in body.splitlines():
        m = re.match(r"^##\s+(.+?)\s*$", line)
        if m:
            out[current] = "\n".join(lines).strip()
            current, lines = m.group(1), []
        else:
            lines.append(line)
    out[current] = "\n".join(lines).strip()
    return out


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts) or "<front matter>"


def _describe(err: dict[str, Any]) -> str:
    if err["type"] == "missing":
        return "missing required field"
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    msg = err["msg"]
    if "input" in err and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    return msg


def parse_paper(path: Path) -> Paper:
    """Read and validate one paper file; raise PaperclubError listing every problem in it, one per line."""
    name = label(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise PaperclubError(f"{name}: cannot read file ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM is not an error
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise PaperclubError(f"{name}: not UTF-8 text (byte 0x{raw[err.start]:02x} at line {line}); "
                             "save the file as UTF-8") from None
    m = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)(.*)$", text, re.S)
    if not m:
        raise PaperclubError(f"{name}: no YAML front matter (the file must start with '---', the metadata, and '---')")
    try:
        meta = yaml.load(m.group(1), Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise PaperclubError(f"{name}: front matter is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(meta, dict):
        raise PaperclubError(f"{name}: front matter must be a mapping of fields, got {type(meta).__name__}")
    slug = path.stem
    if not SLUG.match(slug) or keyword.iskeyword(slug.replace("-", "_")):
        raise PaperclubError(f"{name}: file name must be a slug like 'my-paper.md' (lowercase letters, digits and "
                             "'-', starting with a letter) whose module name is not a Python keyword")
    if len(slug) > MAX_SLUG:
        raise PaperclubError(f"{name}: file name must be at most {MAX_SLUG} characters before '.md' (got {len(slug)})")
    for reserved in ("slug", "path", "body"):
        if reserved in meta:
            raise PaperclubError(f"{name}: field '{reserved}' is set by paperclub, remove it")
    try:
        paper = Paper(**meta, slug=slug, path=path, body=m.group(3))
    except ValidationError as err:
        raise PaperclubError("\n".join(f"{name}: field '{_field_path(e['loc'])}': {_describe(e)}"
                                        for e in err.errors())) from None
    problems = []
    metrics = [c.metric for c in paper.claims]
    for dup in sorted({x for x in metrics if metrics.count(x) > 1}):
        problems.append(f"{name}: field 'claims': metric {dup!r} is used by two claims")
    for i, c in enumerate(paper.claims):
        if c.control is not None and c.control == c.metric:
            problems.append(f"{name}: field 'claims[{i}].control': the control must be another metric than {c.metric!r}")
        if c.control_label is not None and c.control is None:
            problems.append(f"{name}: field 'claims[{i}].control_label': set only with 'control'")
    if problems:
        raise PaperclubError("\n".join(problems))
    return paper


def check_papers(folder: Path) -> tuple[list[Paper], list[str]]:
    """Load every ``*.md`` in ``folder``; return the valid papers and all problems found."""
    files = sorted(f for f in folder.glob("*") if f.suffix == ".md") if folder.is_dir() else []
    papers: list[Paper] = []
    problems: list[str] = []
    for odd in sorted(f for f in folder.glob("*") if f.suffix.lower() == ".md" and f.suffix != ".md") if folder.is_dir() else []:
        problems.append(f"{label(odd)}: ignored: paper files must end in '.md' (lowercase); rename it")
    if not files:
        problems.append(f"{folder}: no paper files (*.md) found")
    for f in files:
        try:
            papers.append(parse_paper(f))
        except PaperclubError as err:
            problems.extend(str(err).splitlines())
    slugs = {p.slug for p in papers} | {f.stem for f in files}
    for p in papers:
        for i, pre in enumerate(p.prerequisites):
            if pre not in slugs:
                problems.append(f"{p.label}: field 'prerequisites[{i}]': unknown paper slug {pre!r} "
                                f"(known: {', '.join(sorted(slugs))})")
    return papers, problems


def load_papers(folder: Path) -> list[Paper]:
    """Load every paper; raise one PaperclubError listing all problems if any."""
    papers, problems = check_papers(folder)
    if problems:
        raise PaperclubError("\n".join(problems))
    return papers
