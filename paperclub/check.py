"""Static checks of a project, run by ``paperclub check`` and at the start of every build, before any
notebook runs: every problem is one line naming the file (and line) and what to do.

* the paper files (front matter, via :func:`paperclub.papers.check_papers`);
* each paper's notebook, implementation and deck exist, are UTF-8 and parse (``ast``);
* every claim, control and ``{{ metric }}`` reference names a metric the notebook records;
* decks are not empty and name only figures the notebook saves;
* each "Common mistakes" item names a test that exists;
* declared data files exist inside the project.

Warnings (``Report.warnings``) are trust problems that a draft may still have: fewer than three
controlled claims, a claim without a control, a claim or control metric that no test of the paper names,
or fewer than four common mistakes on a ready paper. ``--strict`` turns them into errors.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from paperclub.bind import recorded_names, ref_problems
from paperclub.errors import PaperclubError
from paperclub.execute import read_text
from paperclub.layout import Project
from paperclub.papers import Paper, check_papers, shadowed_module, split_sections

MISTAKE_TEST = re.compile(r"`?(tests/test_[A-Za-z0-9_]+\.py)::([A-Za-z_][A-Za-z0-9_]*)`?")
MIN_CONTROLLED, MIN_MISTAKES, MAX_MISTAKES = 3, 4, 6


@dataclass
class Report:
    papers: list[Paper] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _source(path: Path, name: str, problems: list[str]) -> str | None:
    """Read and parse a Python file, reporting an unreadable or unparsable one."""
    try:
        text = read_text(path, name)
    except PaperclubError as err:
        problems.append(str(err))
        return None
    try:
        ast.parse(text, filename=name)
    except SyntaxError as err:
        problems.append(f"{name}:{err.lineno}: SyntaxError: {err.msg}")
        return None
    return text


def saved_figures(source: str) -> tuple[set[str], bool]:
    """Names given as literals to ``savefig(fig, name)`` / ``show_animation(frames, name)``, and whether
    some call computes its name (then a deck's figure references cannot be checked statically)."""
    names, dynamic = set(), False
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if fname not in ("savefig", "show_animation") or not (isinstance(f, ast.Name) or (
                isinstance(f.value, ast.Name) and f.value.id == "paperclub")):
            continue
        arg = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "name"), None)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
        else:
            dynamic = True
    return names, dynamic


def mistakes(paper: Paper) -> list[str]:
    """The items of the paper's "Common mistakes" section (top-level list items)."""
    body = split_sections(paper.body).get("Common mistakes", "")
    items, current = [], []
    for line in body.splitlines():
        if re.match(r"^(\d+\.|[-*])\s", line):
            if current:
                items.append("\n".join(current))
            current = [line]
        elif current:
            current.append(line)
    if current:
        items.append("\n".join(current))
    return items


def _test_names(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _body_line(paper: Paper) -> int:
    """The line of the paper file on which the body starts (for line numbers in body problems)."""
    text = paper.path.read_text(encoding="utf-8-sig")
    return text[: len(text) - len(paper.body)].count("\n")


def check_paper(project: Project, paper: Paper) -> tuple[list[str], list[str]]:
    slug, problems, warnings = paper.slug, [], []
    pname = paper.label
    nb_path, impl_path, deck_path = project.notebook(slug), project.impl(slug), project.deck(slug)
    recorded: set[str] | None = None
    saved: set[str] = set()
    saved_dynamic = True
    for kind, path in (("notebook", nb_path), ("implementation", impl_path), ("deck", deck_path)):
        if not path.exists():
            problems.append(f"{pname}: {kind} {project.rel(path)} not found")
    shadowed = shadowed_module(slug)
    if shadowed:
        problems.append(f"{pname}: the slug '{slug}' makes notebooks/{slug}.py, which hides the module "
                        f"'{shadowed}' from every notebook (they run in notebooks/); rename the paper's files")
    if nb_path.exists():
        nb = _source(nb_path, project.rel(nb_path), problems)
        if nb is not None:
            recorded, dynamic = recorded_names(nb)
            saved, saved_dynamic = saved_figures(nb)
            for line in dynamic:
                warnings.append(f"{project.rel(nb_path)}:{line}: record() with a computed name: check cannot see "
                                "which metric it records; pass the name as a literal string")
            if dynamic:
                recorded = None  # cannot be sure what is recorded: skip the unknown-metric checks
    if impl_path.exists():
        _source(impl_path, project.rel(impl_path), problems)
    if recorded is not None:
        for i, c in enumerate(paper.claims):
            if c.metric not in recorded:
                problems.append(f"{pname}: field 'claims[{i}].metric': {c.metric!r} is never recorded by "
                                f"{project.rel(nb_path)} (a typo shows as a false claim)")
            if c.control and c.control not in recorded:
                problems.append(f"{pname}: field 'claims[{i}].control': {c.control!r} is never recorded by "
                                f"{project.rel(nb_path)}")
    problems += ref_problems(paper.body, pname, recorded, line_offset=_body_line(paper))
    if deck_path.exists():
        dname = project.rel(deck_path)
        try:
            deck = read_text(deck_path, dname)
        except PaperclubError as err:
            problems.append(str(err))
        else:
            from paperclub.slides import referenced_figures, split_slides
            if not split_slides(deck):
                problems.append(f"{dname}: no slides (separate slides with lines of '---')")
            problems += ref_problems(deck, dname, recorded)
            if not saved_dynamic:
                for n, fname in referenced_figures(deck):
                    stem = fname.rsplit(".", 1)[0]
                    if stem not in saved:
                        problems.append(f"{dname}: slide {n}: figure 'figures/{fname}' is never saved by "
                                        f"{project.rel(nb_path)} (saved: {', '.join(sorted(saved)) or 'none'})")
    if paper.handout:
        tags = set(re.findall(r"\\tag\{([^}]*)\}", paper.body))
        for i, t in enumerate(paper.handout.equations):
            if t not in tags:
                problems.append(f"{pname}: field 'handout.equations[{i}]': no equation \\tag{{{t}}} in the notes "
                                f"(tags: {', '.join(sorted(tags)) or 'none'})")
        if paper.handout.figure and not saved_dynamic and paper.handout.figure not in saved:
            problems.append(f"{pname}: field 'handout.figure': {paper.handout.figure!r} is never saved by "
                            f"{project.rel(nb_path)}")
    for i, item in enumerate(mistakes(paper), start=1):
        refs = MISTAKE_TEST.findall(item)
        if not refs:
            problems.append(f"{pname}: Common mistakes item {i}: name the test that catches it, as "
                            f"`tests/test_{paper.module}.py::test_mistake_<name>`")
        for file, func in refs:
            if func not in _test_names(project.root / file):
                problems.append(f"{pname}: Common mistakes item {i}: test {file}::{func} not found")
    for i, rel in enumerate(paper.inputs):
        path = (project.root / rel).resolve()
        if not path.is_relative_to(project.root.resolve()) or not path.is_file():
            problems.append(f"{pname}: field 'inputs[{i}]': {rel!r} is not a file inside the project")
    if paper.status == "ready":
        controlled = sum(1 for c in paper.claims if c.control)
        if controlled < MIN_CONTROLLED:
            warnings.append(f"{pname}: only {controlled} claim(s) name a control; a ready paper needs "
                            f"{MIN_CONTROLLED} claims that could have failed")
        for i, c in enumerate(paper.claims):
            if not c.control:
                warnings.append(f"{pname}: field 'claims[{i}].control': claim '{c.metric}' has no control; every "
                                "claim needs the strongest naive variant that should fail it (a result with no "
                                "natural control is an observation for the notes; a timing belongs on the "
                                "performance page)")
        named = _test_strings(project.test(paper.slug))
        for i, c in enumerate(paper.claims):
            for what, metric in (("metric", c.metric), ("control", c.control)):
                if metric and metric not in named:
                    warnings.append(f"{pname}: field 'claims[{i}].{what}': no test in "
                                    f"{project.rel(project.test(paper.slug))} names {metric!r}; assert the claim "
                                    "and its control at the front matter's threshold (conftest.claim)")
        n = len(mistakes(paper))
        if not MIN_MISTAKES <= n <= MAX_MISTAKES:
            warnings.append(f"{pname}: 'Common mistakes' has {n} item(s); a ready paper lists "
                            f"{MIN_MISTAKES} to {MAX_MISTAKES}")
    return problems, warnings


def _test_strings(path: Path) -> set[str]:
    """The names a test file uses: string literals (``claim("vae", "latent_knn_accuracy")``) and the
    identifiers its tests compute a metric into (``pca_knn_accuracy = …; assert not c.holds(pca_knn_accuracy)``)."""
    try:
        tree = ast.parse(read_text(path))
    except (PaperclubError, SyntaxError, OSError):
        return set()
    names: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            names.add(n.value)
        elif isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Attribute):
            names.add(n.attr)
        elif isinstance(n, ast.arg):
            names.add(n.arg)
        elif isinstance(n, ast.keyword) and n.arg:
            names.add(n.arg)
    return names


def check_project(project: Project) -> Report:
    from paperclub import config

    papers, problems = check_papers(project.papers)
    report = Report(papers=papers, problems=list(problems))
    try:
        config.load(project.root)
    except PaperclubError as err:
        report.problems.append(str(err))
    for p in papers:
        pr, wa = check_paper(project, p)
        report.problems += pr
        report.warnings += wa
    return report


def inputs_of(project: Project, paper: Paper) -> list[Path]:
    """The data files a paper's notebook depends on: its declared ``inputs`` and ``data/<slug>/``."""
    files = [project.root / rel for rel in paper.inputs]
    folder = project.data_dir(paper.slug)
    if folder.is_dir():
        files += [f for f in sorted(folder.rglob("*")) if f.is_file()]
    return [f for f in files if f.is_file()]
