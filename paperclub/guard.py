"""The one guard on every folder a user names (``--site``, ``--cache``, and any future one).

paperclub may write into, or delete from, a folder only when it is

* its own: a folder holding paperclub's marker file for that use (``.paperclub-site``, ``.paperclub-cache``),
  or the project's default folder for that use (``build/cache`` predates the cache marker);
* or new, or empty (then paperclub claims it by writing the marker);

and never when it is the project folder or a folder around it, a folder inside the project's sources
(any existing entry of the project root other than ``build/`` and ``site/``: ``papers/``, ``.git/``, …),
the other output folder, or a symbolic link that paperclub would replace (the site is swapped in by
renames). Relative paths are resolved against the current directory, as a shell user expects.

Leftover cleaning (:func:`is_leftover`) removes only names paperclub made itself (its prefix and a
random suffix), and only inside a folder this guard approved.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from paperclub.errors import PaperclubError

SITE_MARKER = ".paperclub-site"
CACHE_MARKER = ".paperclub-cache"
# project entries paperclub writes; every other existing entry of the project root is a source
OUTPUTS = ("build", "site")

# what tempfile.mkdtemp(prefix=".<slug>-") makes (8 characters from [a-z0-9_]), and a promotion's ".<slug>.old"
_SLUG = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
RUN_LEFTOVER = re.compile(rf"^\.{_SLUG}-[a-z0-9_]{{8}}$|^\.{_SLUG}\.old$")


def absolute(path: Path | str, cwd: Path | None = None) -> Path:
    """``path`` made absolute against ``cwd`` (default: the current directory), ``..`` folded, links kept."""
    p = Path(os.path.expanduser(str(path)))
    if not p.is_absolute():
        p = (cwd or Path.cwd()) / p
    return Path(os.path.normpath(p))


def _inside(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b)


def check_folder(project, path: Path | str, flag: str, marker: str, *, replaced: bool = False,
                 default: Path | None = None, others: tuple[Path, ...] = (), cwd: Path | None = None) -> Path:
    """Decide whether paperclub may write into and delete from the folder ``path``; return its absolute path.

    ``replaced``: paperclub replaces the folder itself (the site's swap), so a symbolic link is refused.
    ``default``: the project's default folder for this use (its own even without a marker).
    ``others``: the project's other output folders, which this one may not overlap.
    Raises :class:`PaperclubError` with one line naming the flag and what to do."""
    p = absolute(path, cwd)
    shown = f"{flag} {path}" if str(path) == str(p) else f"{flag} {path} ({p})"
    if p.is_symlink():
        if replaced:
            raise PaperclubError(f"{shown}: is a symbolic link (to {os.readlink(p)}); paperclub replaces this "
                                 "folder and would replace the link: name the folder itself, or a new one")
    real = p.resolve()
    root = project.root.resolve()
    for q in {p, real}:
        if _inside(root, q):
            raise PaperclubError(f"{shown}: is the project folder or contains it; choose a folder of its own")
        if q.is_relative_to(root):
            top = q.relative_to(root).parts[0]
            if top not in OUTPUTS and (root / top).exists() or top == ".git":
                raise PaperclubError(f"{shown}: is inside the project's sources ({top}/); choose another folder")
        build = project.build_dir.resolve()
        if _inside(build, q):
            raise PaperclubError(f"{shown}: is or contains the project's build/ folder; choose a folder of its own")
        for other in others:
            o = absolute(other, cwd).resolve()
            if _inside(q, o) or _inside(o, q):
                raise PaperclubError(f"{shown}: overlaps {o}, which paperclub uses for something else")
    if real.exists() and not real.is_dir():
        raise PaperclubError(f"{shown}: exists and is not a folder")
    if real.is_dir():
        try:
            entries = [e.name for e in real.iterdir()]
        except OSError as err:
            raise PaperclubError(f"{shown}: cannot read the folder ({err.strerror})") from None
        own = marker in entries or (default is not None and absolute(default).resolve() == real)
        if entries and not own:
            raise PaperclubError(f"{shown}: folder exists, is not empty and was not made by paperclub (no {marker} "
                                 "marker); paperclub never writes into it. Choose a new or empty folder")
    return p


def claim(folder: Path, marker: str, what: str) -> None:
    """Create ``folder`` if needed and mark it as paperclub's (call only after :func:`check_folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    m = folder / marker
    if not m.exists():
        m.write_text(f"made by paperclub: its {what}; paperclub may replace what is inside\n", encoding="utf-8")


def is_marked(folder: Path, marker: str) -> bool:
    return (folder / marker).is_file()


def is_leftover(name: str) -> bool:
    """A temporary run folder paperclub made (``.<slug>-XXXXXXXX`` or ``.<slug>.old``)."""
    return bool(RUN_LEFTOVER.match(name))
