"""Front-matter validation: every problem is one line naming the file and the field."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from paperclub.errors import PaperclubError
from paperclub.papers import Claim, check_papers, load_papers, parse_paper, split_sections

GOOD = """\
---
title: "A paper"
authors: ["A. Author"]
year: 2024
venue: ICML
links: {paper: "https://example.org/p"}
tags: [x]
tldr: "Short."
session: {date: 2026-12-03, presenter: "P", room: "R"}
claims:
  - {text: "t", paper: "Fig. 1", metric: acc, expect: ">= 0.5"}
---
## Key ideas

Idea.

## Method

$$ a = b \\tag{1} $$
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def one_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path / "papers", "bad.md", text)
    with pytest.raises(PaperclubError) as info:
        parse_paper(path)
    msg = str(info.value)
    assert msg.startswith("papers/bad.md: "), msg
    return msg


def test_good_paper_loads_with_sections(tmp_path):
    paper = parse_paper(write(tmp_path / "papers", "good.md", GOOD))
    assert paper.slug == "good" and paper.module == "good"
    assert list(paper.sections()) == ["", "Key ideas", "Method"]
    assert "@inproceedings" in paper.bibtex_entry()


def test_missing_field_is_named(tmp_path):
    msg = one_error(tmp_path, GOOD.replace('tldr: "Short."\n', ""))
    assert "field 'tldr': missing required field" in msg


def test_wrong_type_is_named(tmp_path):
    msg = one_error(tmp_path, GOOD.replace("year: 2024", "year: soon"))
    assert "field 'year'" in msg and "'soon'" in msg


def test_bad_date_is_named(tmp_path):
    msg = one_error(tmp_path, GOOD.replace("date: 2026-12-03", "date: 2026-13-45"))
    assert "field 'session.date'" in msg


def test_unknown_field_is_named(tmp_path):
    msg = one_error(tmp_path, GOOD.replace("tags: [x]", "tags: [x]\ntitel: typo"))
    assert "field 'titel': unknown field" in msg


def test_bad_claim_expectation_names_the_claim(tmp_path):
    msg = one_error(tmp_path, GOOD.replace('expect: ">= 0.5"', 'expect: "about 0.5"'))
    assert "field 'claims[0].expect'" in msg


def test_invalid_yaml_and_missing_front_matter(tmp_path):
    assert "not valid YAML" in one_error(tmp_path, "---\ntitle: [unclosed\n---\nbody")
    assert "no YAML front matter" in one_error(tmp_path, "# just markdown\n")


def test_unknown_prerequisite_and_all_problems_at_once(tmp_path):
    folder = tmp_path / "papers"
    write(folder, "a.md", GOOD.replace("claims:", "prerequisites: [nope]\nclaims:"))
    write(folder, "b.md", GOOD.replace("year: 2024", "year: x"))
    write(folder, "c.md", GOOD)
    papers, problems = check_papers(folder)
    assert [p.slug for p in papers] == ["a", "c"]
    assert any(p.startswith("papers/a.md: field 'prerequisites[0]': unknown paper slug 'nope'") for p in problems)
    assert any(p.startswith("papers/b.md: field 'year'") for p in problems)
    assert all("\n" not in p for p in problems)
    with pytest.raises(PaperclubError):
        load_papers(folder)


def test_session_date_is_optional(tmp_path):
    paper = parse_paper(write(tmp_path / "papers", "u.md", GOOD.replace("date: 2026-12-03, ", "")))
    assert paper.session.date is None


@pytest.mark.parametrize("expect,value,holds", [
    (">= 0.5", 0.5, True), (">= 0.5", 0.49, False), ("< 3", 2, True), ("== true", True, True),
    ("== true", False, False), ("!= 0", 0.0, False), (">= 0.5", "high", False), ("> 1e-3", 0.01, True),
])
def test_claim_expectations(expect, value, holds):
    assert Claim(text="t", paper="p", metric="m", expect=expect).holds(value) is holds


def test_split_sections_keeps_order_and_preamble():
    body = textwrap.dedent("""\
        intro
        ## A
        a text
        ## B
        b text
        """)
    assert split_sections(body) == {"": "intro", "A": "a text", "B": "b text"}


def test_the_season_meets_the_trust_bar():
    """Every paper of the season: ≥ 3 claims with controls, 4–6 common mistakes each naming a test that
    exists, every claim and {{ reference }} on a metric its notebook records, nothing unparsable."""
    from paperclub.check import check_project
    from paperclub.layout import Project

    root = Path(__file__).resolve().parent.parent
    report = check_project(Project(root))
    assert len(report.papers) == 10
    assert report.problems == [] and report.warnings == [], "\n".join(report.problems + report.warnings)
