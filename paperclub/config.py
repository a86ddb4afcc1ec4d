"""The project's own settings: where its public repository lives, read from ``pyproject.toml``.

A club that publishes its repository on GitHub names it once::

    [tool.paperclub]
    repository = "https://github.com/<owner>/<repo>"   # pages link to it and offer "Open in Colab"
    branch = "main"                                     # the branch holding the sources (default: main)
    notebooks_ref = "gh-pages"                          # the branch the built site is pushed to (default)

Without ``repository`` no page shows a repository link or a Colab link, and nothing else changes.
The links are plain ``<a href>``: a reader may follow them, the browser loads nothing by itself, so
the offline audit is unaffected (Material's ``repo_url`` is deliberately not used: it fetches the
repository's stars from GitHub's API on every page).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from paperclub.errors import PaperclubError

KEYS = ("repository", "branch", "notebooks_ref")
_REPO = re.compile(r"^https://github\.com/([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100}?)(?:\.git)?/?$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
COLAB = "https://colab.research.google.com/github"


@dataclass(frozen=True)
class Config:
    """``repository`` is ``None`` when the project names none (then every link method returns ``None``)."""
    repository: str | None = None
    branch: str = "main"
    notebooks_ref: str = "gh-pages"

    @property
    def slug(self) -> str | None:
        """``owner/repo``."""
        if not self.repository:
            return None
        m = _REPO.match(self.repository)
        return f"{m.group(1)}/{m.group(2)}" if m else None

    def source_url(self, path: str) -> str | None:
        """A file of the repository on its source branch, e.g. ``minimal_impls/vae.py``."""
        return f"https://github.com/{self.slug}/blob/{self.branch}/{path}" if self.slug else None

    def colab_url(self, site_path: str) -> str | None:
        """Colab opening a notebook of the published site, e.g. ``papers/vae/vae.ipynb``.

        Colab opens notebooks from a GitHub branch, so the workflow pushes the built site to
        ``notebooks_ref`` (see docs/running-locally.md)."""
        return f"{COLAB}/{self.slug}/blob/{self.notebooks_ref}/{site_path}" if self.slug else None


def parse(table: dict, where: str = "pyproject.toml") -> Config:
    """A :class:`Config` from the ``[tool.paperclub]`` table; one-line errors name the file and key."""
    if not isinstance(table, dict):
        raise PaperclubError(f"{where}: [tool.paperclub] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise PaperclubError(f"{where}: [tool.paperclub] {unknown[0]}: unknown setting "
                             f"(known: {', '.join(KEYS)})")
    repo = table.get("repository")
    if repo is not None:
        if not isinstance(repo, str) or not _REPO.match(repo.strip()):
            raise PaperclubError(f"{where}: [tool.paperclub] repository: expected "
                                 f"'https://github.com/<owner>/<repo>', got {repo!r}")
        m = _REPO.match(repo.strip())
        repo = f"https://github.com/{m.group(1)}/{m.group(2)}"
    values = {}
    for key in ("branch", "notebooks_ref"):
        if key in table:
            v = table[key]
            if not isinstance(v, str) or not _REF.match(v) or ".." in v:
                raise PaperclubError(f"{where}: [tool.paperclub] {key}: expected a branch name, got {v!r}")
            values[key] = v
    return Config(repository=repo or None, **values)


def load(root: Path) -> Config:
    """The settings of the project at ``root`` (defaults when there is no pyproject or no table)."""
    path = Path(root) / "pyproject.toml"
    if not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise PaperclubError(f"pyproject.toml: not valid TOML: {err}") from err
    return parse(data.get("tool", {}).get("paperclub", {}))
