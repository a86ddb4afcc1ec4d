"""Shared fixtures: small throwaway projects made with ``paperclub new``."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def make_project(base: Path, slugs: list[str]) -> Path:
    """A project folder with the repository's config and one scaffolded paper per slug."""
    from paperclub.cli import scaffold
    from paperclub.layout import Project

    base.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "mkdocs.yml", base / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", base / "docs")
    (base / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    # a clone has the shared helpers the scaffolded implementation imports
    (base / "minimal_impls").mkdir(exist_ok=True)
    shutil.copy2(ROOT / "minimal_impls" / "common.py", base / "minimal_impls" / "common.py")
    for slug in slugs:
        scaffold(Project(base), f"Paper {slug}", slug, 2026)
    return base


def claim(slug: str, metric: str):
    """The claim on ``metric`` from ``papers/<slug>.md``: tests take thresholds from the front matter,
    never a retyped (and drifting) copy. ``claim(...).holds(x)`` applies the claim's own ``expect``."""
    from paperclub.papers import parse_paper

    return parse_paper(ROOT / "papers" / f"{slug}.md").claim(metric)


@pytest.fixture
def project_factory(tmp_path):
    return lambda slugs, name="proj": make_project(tmp_path / name, slugs)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The real site, built once per test session into a temporary folder."""
    from paperclub.build import build
    from paperclub.layout import Project

    site = tmp_path_factory.mktemp("built") / "site"
    # wait=True: another test worker may be building the same project; this one then renders from its cache
    report = build(Project(ROOT), site, ROOT / "build" / "cache", today=dt.date(2026, 11, 23), strict=False,
                   wait=True)
    return site, report


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The implementations' models are tiny: one intra-op thread is fastest, keeps seeded runs
    bit-for-bit repeatable, and avoids threads spin-waiting on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
