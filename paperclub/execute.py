"""Stage 2: execute the notebooks, with a cache that knows what each notebook depends on.

Each notebook runs with nbclient in a fresh kernel, in its own subprocess (so a hung notebook can be
killed at the per-notebook time limit), with the notebook's folder as working directory. Each result is a
:class:`~paperclub.rundir.RunDir` in ``<cache>/<slug>/``: the executed notebook, the metrics, the figures
and ``meta.json``.

The cache key hashes everything a result depends on: the notebook's text, the source of every
``minimal_impls`` module it imports (followed transitively), the notebook runtime (``paperclub.runtime``
and the run-folder contract), the data files the paper declares (``inputs:`` and ``data/<slug>/``), and
the versions of Python and the main libraries. Change any of them and exactly the affected notebooks run
again; ``force`` runs chosen ones regardless.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Literal

from paperclub.errors import PaperclubError
from paperclub.rundir import RunDir

LIBRARIES = ("torch", "numpy", "scipy", "matplotlib", "scikit-learn", "scikit-image", "pillow",
             "nbclient", "ipykernel", "jupytext")
PACKAGE = "minimal_impls"
# the notebook runtime every notebook imports: part of every cache key
RUNTIME = tuple(Path(__file__).parent / name for name in ("__init__.py", "runtime.py", "rundir.py"))
TMP_PREFIX = "."  # a run in progress lives in <cache>/.<slug>-XXXX until it is promoted
# matplotlib settings every kernel runs with (part of the cache key): sharper inline figures than the
# default 100 dpi, still light enough for the page budget
MATPLOTLIBRC = "figure.dpi: 120\nsavefig.dpi: figure\n"


def read_text(path: Path, name: str | None = None) -> str:
    """A project file as text; a non-UTF-8 file is one clear error naming it (a BOM is dropped)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[:err.start].count(b"\n") + 1
        raise PaperclubError(f"{name or path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at line {line}); "
                             "save the file as UTF-8") from None
    except OSError as err:
        raise PaperclubError(f"{name or path}: cannot read file ({err.strerror})") from None


@dataclass(frozen=True)
class NotebookResult:
    """One notebook's outcome; metrics and figures are read once, when the result is made."""
    slug: str
    status: Literal["executed", "cached", "failed"]
    seconds: float          # how long the notebook took when it last ran
    run: RunDir | None      # the cache folder holding the run
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: tuple[Path, ...] = ()

    @classmethod
    def load(cls, slug: str, status: Literal["executed", "cached"], seconds: float, run: RunDir) -> "NotebookResult":
        try:
            metrics = run.read_metrics()
        except (ValueError, OSError) as err:
            raise PaperclubError(f"{run.metrics_file}: unreadable metrics ({err}); rebuild with --force {slug}") from None
        return cls(slug, status, seconds, run, None, metrics, tuple(run.figures()))

    @classmethod
    def failed(cls, slug: str, seconds: float, error: str) -> "NotebookResult":
        return cls(slug, "failed", seconds, None, error)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


# --------------------------------------------------------------------------- dependencies and keys

def _imported_modules(source: str) -> set[str]:
    """Names of ``minimal_impls`` modules imported by a piece of Python source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            parts = mod.split(".")
            if node.level == 1:  # relative import inside minimal_impls
                if mod:
                    found.add(parts[0])
                else:
                    found.update(a.name for a in node.names)
            elif parts[0] == PACKAGE:
                if len(parts) > 1:
                    found.add(parts[1])
                else:
                    found.update(a.name for a in node.names)
    return found


def dependencies(notebook: Path, impl_dir: Path) -> list[Path]:
    """Every ``minimal_impls`` module file the notebook imports, directly or through another module."""
    todo = list(_imported_modules(read_text(notebook)))
    done: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in done:
            continue
        path = impl_dir / f"{name}.py"
        if not path.exists():
            continue
        done[name] = path
        todo.extend(_imported_modules(read_text(path)))
    return [done[k] for k in sorted(done)]


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "absent"
    return versions


def cache_key(notebook: Path, impl_dir: Path, versions: dict[str, str] | None = None,
              inputs: list[Path] = ()) -> str:
    """sha256 of everything the notebook's result depends on (see the module docstring)."""
    h = hashlib.sha256()
    h.update(b"notebook\0" + notebook.read_bytes())
    for dep in dependencies(notebook, impl_dir):
        h.update(f"\0module {dep.name}\0".encode() + dep.read_bytes())
    for src in RUNTIME:
        h.update(f"\0runtime {src.name}\0".encode() + src.read_bytes())
    for data in sorted(inputs):
        h.update(f"\0input {data.as_posix()}\0".encode() + data.read_bytes())
    h.update(b"\0matplotlibrc\0" + MATPLOTLIBRC.encode())
    h.update(json.dumps(versions if versions is not None else library_versions(), sort_keys=True).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- running one notebook

def _line_of_cell(py_text: str, n_cells: int, index: int) -> int | None:
    """The line in the ``.py`` file where cell ``index`` starts (jupytext py:percent markers)."""
    markers = [i + 1 for i, line in enumerate(py_text.splitlines()) if line.startswith("# %%")]
    offset = n_cells - len(markers)
    if offset not in (0, 1) or index - offset < 0:
        return None
    return markers[index - offset]


def run_one(notebook: Path, run: RunDir, cell_timeout: int) -> None:
    """Execute ``notebook`` (a jupytext .py) into ``run``; on failure write its error file and exit 1.

    Called in a subprocess by :func:`execute_all` (``python -m paperclub.execute``).
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    run.path.mkdir(parents=True, exist_ok=True)
    os.environ.update(run.env(seed=RunDir.seed()))   # the seed the caller asked for (default 0)
    text = read_text(notebook)
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        run.error_file.write_text(_describe_failure(nb, text, err, cell_timeout), encoding="utf-8")
        nbformat.write(nb, run.notebook)
        sys.exit(1)
    nbformat.write(nb, run.notebook)
    # CPU time of the kernel (a reaped child) and of this process: unlike wall time, it does not grow
    # when other notebooks or programs share the cores, so the page can say how long it takes alone
    import resource
    used = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))
    run.cpu_file.write_text(f"{used:.2f}", encoding="utf-8")


def _describe_failure(nb: Any, text: str, err: Exception, cell_timeout: int) -> str:
    """``cell N (line L): Error: message`` for the first cell that failed."""
    from nbclient.exceptions import CellTimeoutError

    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                line = _line_of_cell(text, len(nb.cells), i)
                where = f"cell {i + 1}" + (f" (line {line})" if line else "")
                return f"{where}: {output['ename']}: {output['evalue']}"
    if isinstance(err, CellTimeoutError):
        return f"a cell ran longer than {cell_timeout} s"
    return str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__


# --------------------------------------------------------------------------- running them all: plan, run, promote

@dataclass(frozen=True)
class Job:
    """A notebook that must run, with the cache key its result will be stored under."""
    slug: str
    notebook: Path
    key: str


def plan(notebooks: dict[str, Path], impl_dir: Path, cache_dir: Path, versions: dict[str, str], *,
         inputs: dict[str, list[Path]] | None = None, force: set[str] | bool = False,
         ) -> tuple[dict[str, NotebookResult], list[Job]]:
    """Split the notebooks into cached results and jobs to run."""
    results: dict[str, NotebookResult] = {}
    jobs: list[Job] = []
    for slug, nb in sorted(notebooks.items()):
        if not nb.exists():
            results[slug] = NotebookResult.failed(slug, 0.0, f"{nb.parent.name}/{nb.name}: file not found")
            continue
        key = cache_key(nb, impl_dir, versions, (inputs or {}).get(slug, []))
        run = RunDir(cache_dir / slug)
        forced = force is True or (isinstance(force, set) and slug in force)
        if not forced and run.meta_file.exists():
            try:
                meta = json.loads(run.meta_file.read_text(encoding="utf-8"))
            except ValueError:
                meta = {}
            if meta.get("key") == key:
                results[slug] = NotebookResult.load(slug, "cached", meta["seconds"], run)
                continue
        jobs.append(Job(slug, nb, key))
    return results, jobs


def run_job(job: Job, impl_dir: Path, cache_dir: Path, *, threads: int, limit_s: int) -> tuple[NotebookResult, RunDir | None]:
    """Run one notebook into a fresh temporary run folder; return its result and that folder."""
    t0 = time.monotonic()
    cache_dir.mkdir(parents=True, exist_ok=True)
    run = RunDir(Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{job.slug}-", dir=cache_dir)))
    # the project's own minimal_impls comes first on the kernel's path
    path = os.pathsep.join(x for x in (str(impl_dir.parent.resolve()), os.environ.get("PYTHONPATH")) if x)
    (run.path / "matplotlibrc").write_text(MATPLOTLIBRC, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONHASHSEED="0", MPLBACKEND="module://matplotlib_inline.backend_inline",
               MATPLOTLIBRC=str(run.path / "matplotlibrc"))
    name = f"{job.notebook.parent.name}/{job.notebook.name}"
    try:
        proc = subprocess.run([sys.executable, "-m", "paperclub.execute", str(job.notebook), str(run.path),
                               str(limit_s)], capture_output=True, text=True, timeout=limit_s, env=env,
                              cwd=job.notebook.parent)
    except subprocess.TimeoutExpired:
        return NotebookResult.failed(job.slug, float(limit_s), f"{name}: exceeded the time limit of {limit_s} s"), run
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        if run.error_file.exists():
            msg = run.error_file.read_text(encoding="utf-8").strip()
        else:
            tail = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
            msg = tail[-1] if tail else f"exited with code {proc.returncode}"
        return NotebookResult.failed(job.slug, seconds, f"{name}: {msg}"), run
    # the figure pages show: CPU seconds (what the notebook costs alone), else wall time
    try:
        cpu = float(run.cpu_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cpu = None
    seconds = cpu if cpu is not None else seconds
    run.meta_file.write_text(json.dumps({"key": job.key, "seconds": round(seconds, 2),
                                         "wall_seconds": round(time.monotonic() - t0, 2)}, indent=2),
                             encoding="utf-8")
    return NotebookResult.load(job.slug, "executed", seconds, run), run


def promote(result: NotebookResult, cache_dir: Path) -> NotebookResult:
    """Move a finished run to ``<cache>/<slug>``, replacing the previous result (a failed run is not kept)."""
    if not result.ok or result.run is None:
        return result
    final = cache_dir / result.slug
    old = cache_dir / f"{TMP_PREFIX}{result.slug}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    result.run.path.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return NotebookResult.load(result.slug, result.status, result.seconds, RunDir(final))  # type: ignore[arg-type]


def clean_leftovers(cache_dir: Path) -> list[Path]:
    """Remove the temporary run folders of a build that was killed (call under the project lock).

    Only inside a cache folder paperclub owns (its marker, or the project's ``build/cache`` beside the
    build lock), and only names paperclub made there (``.<slug>-XXXXXXXX``, ``.<slug>.old``): a cache
    pointed at a home folder by mistake loses nothing (see :mod:`paperclub.guard`)."""
    from paperclub import guard

    removed: list[Path] = []
    if not cache_dir.is_dir() or cache_dir.is_symlink() and not guard.is_marked(cache_dir, guard.CACHE_MARKER):
        return removed
    if not (guard.is_marked(cache_dir, guard.CACHE_MARKER) or (cache_dir.parent / ".paperclub.lock").exists()):
        return removed
    for p in cache_dir.iterdir():
        if guard.is_leftover(p.name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def execute_all(
    notebooks: dict[str, Path],
    impl_dir: Path,
    cache_dir: Path,
    *,
    jobs: int | None = None,
    limit_s: int = 300,
    force: set[str] | bool = False,
    inputs: dict[str, list[Path]] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, NotebookResult]:
    """Execute every notebook whose cache key changed, ``jobs`` at a time; return a result per slug.

    A failing notebook never stops the others; its last good result stays in the cache.
    """
    versions = library_versions()
    results, todo = plan(notebooks, impl_dir, cache_dir, versions, inputs=inputs, force=force)
    if not todo:
        return results
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    # one notebook per core, one thread each: small torch models on oversubscribed cores slow down
    # by an order of magnitude (threads spin while waiting), so never give a kernel more than its share
    threads = max(1, (os.cpu_count() or 1) // workers)
    started: dict[str, float] = {}
    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(10.0):
            now = time.monotonic()
            busy = ", ".join(f"{s} {now - t:.0f}s" for s, t in sorted(dict(started).items()))
            if busy:
                log(f"  … running: {busy}")

    def work(job: Job) -> tuple[NotebookResult, RunDir | None]:
        started[job.slug] = time.monotonic()
        try:
            return run_job(job, impl_dir, cache_dir, threads=threads, limit_s=limit_s)
        finally:
            started.pop(job.slug, None)

    threading.Thread(target=ticker, daemon=True).start()
    leftovers: list[RunDir] = []
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for fut in as_completed([pool.submit(work, job) for job in todo]):
                res, run = fut.result()
                if run is not None:
                    leftovers.append(run)
                res = promote(res, cache_dir)
                results[res.slug] = res
                mark = "executed" if res.ok else "FAILED"
                log(f"  {res.slug:<24} {mark:<9} {res.seconds:6.1f} s" + (f"  {res.error}" if res.error else ""))
    finally:
        stop.set()
        for run in leftovers:  # failed runs; promoted ones have moved away
            shutil.rmtree(run.path, ignore_errors=True)
    return results


if __name__ == "__main__":  # pragma: no cover - exercised through execute_all
    run_one(Path(sys.argv[1]).resolve(), RunDir(Path(sys.argv[2]).resolve()), int(sys.argv[3]))
