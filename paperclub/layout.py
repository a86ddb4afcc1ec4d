"""Every path and URL of a project, in one place.

:class:`Project` owns the input files of each paper (front matter, notebook, implementation, deck, test)
and the folders paperclub writes (``site/``, ``build/``). :class:`SiteMap` owns the staging docs tree the
site engine renders: where each paper's page, deck, handout and downloads live, and the relative link from
one page to another. No other module spells these paths out.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


def module_name(slug: str) -> str:
    """The Python module of a paper: its slug with ``_`` for ``-``."""
    return slug.replace("-", "_")


@dataclass(frozen=True)
class Project:
    """Where a project's inputs and outputs live (the repository root by default)."""
    root: Path

    # folders
    @property
    def papers(self) -> Path: return self.root / "papers"
    @property
    def notebooks(self) -> Path: return self.root / "notebooks"
    @property
    def impls(self) -> Path: return self.root / "minimal_impls"
    @property
    def slides(self) -> Path: return self.root / "slides"
    @property
    def docs(self) -> Path: return self.root / "docs"
    @property
    def tests(self) -> Path: return self.root / "tests"
    @property
    def data(self) -> Path: return self.root / "data"
    @property
    def build_dir(self) -> Path: return self.root / "build"
    @property
    def default_site(self) -> Path: return self.root / "site"
    @property
    def default_cache(self) -> Path: return self.build_dir / "cache"
    @property
    def slides_pdf(self) -> Path: return self.build_dir / "slides-pdf"
    @property
    def lock(self) -> Path: return self.build_dir / ".paperclub.lock"
    @property
    def png_cache(self) -> Path: return self.build_dir / "png-cache"
    @property
    def failed_dir(self) -> Path: return self.build_dir / "failed"
    @property
    def node_modules(self) -> Path: return self.root / "node_modules"
    @property
    def mkdocs_yml(self) -> Path: return self.root / "mkdocs.yml"
    @property
    def home_md(self) -> Path: return self.docs / "home.md"

    # one paper's files
    def paper(self, slug: str) -> Path: return self.papers / f"{slug}.md"
    def notebook(self, slug: str) -> Path: return self.notebooks / f"{slug}.py"
    def paired_ipynb(self, slug: str) -> Path: return self.notebooks / f"{slug}.ipynb"
    def impl(self, slug: str) -> Path: return self.impls / f"{module_name(slug)}.py"
    def deck(self, slug: str) -> Path: return self.slides / f"{slug}.md"
    def test(self, slug: str) -> Path: return self.tests / f"test_{module_name(slug)}.py"
    def data_dir(self, slug: str) -> Path: return self.data / slug

    def files_of(self, slug: str) -> dict[str, Path]:
        """The five files ``paperclub new`` scaffolds, by template name."""
        return {"paper.md": self.paper(slug), "notebook.py": self.notebook(slug), "impl.py": self.impl(slug),
                "test.py": self.test(slug), "slides.md": self.deck(slug)}

    def rel(self, path: Path) -> str:
        """``path`` as the user knows it: relative to the project when inside it."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)


class SiteMap:
    """Paths in the staging docs tree (POSIX, relative to its root) and links between them."""

    HOME = "index.md"
    SCHEDULE = "schedule.md"
    ICS = "sessions.ics"
    METRICS = "metrics.json"
    CLAIMS = "claims.json"
    ASSETS = "assets"

    @staticmethod
    def page_dir(slug: str) -> str: return f"papers/{slug}"
    @staticmethod
    def page(slug: str) -> str: return f"papers/{slug}/index.md"
    @staticmethod
    def figures(slug: str) -> str: return f"papers/{slug}/figures"
    @staticmethod
    def ipynb(slug: str) -> str: return f"papers/{slug}/{slug}.ipynb"
    @staticmethod
    def source_py(slug: str) -> str: return f"papers/{slug}/{slug}.py"
    @staticmethod
    def deck_dir(slug: str) -> str: return f"slides/{slug}"
    @staticmethod
    def deck(slug: str) -> str: return f"slides/{slug}/index.html"
    @staticmethod
    def handout(slug: str) -> str: return f"handouts/{slug}.md"

    @staticmethod
    def handout_figure(slug: str, name: str) -> str: return f"handouts/{slug}-{name}"
    @staticmethod
    def thumbnail(slug: str) -> str: return f"papers/{slug}/thumbnail.png"

    @staticmethod
    def built(doc: str) -> str:
        """The HTML file the site engine writes for a staged file: ``a/index.md`` → ``a/index.html``,
        ``a/b.md`` → ``a/b.html``. No directory URLs (``use_directory_urls: false``), so every link names
        a file and a copy of the site works from ``file://``."""
        p = PurePosixPath(doc)
        return p.with_suffix(".html").as_posix() if p.suffix == ".md" else doc

    @staticmethod
    def link(from_doc: str, to_doc: str) -> str:
        """A relative link from one staged file to another (the engine rewrites ``.md`` links)."""
        start = posixpath.dirname(from_doc) or "."
        return posixpath.relpath(to_doc, start)
