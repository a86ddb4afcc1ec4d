"""Stage 2: execute the notebooks, with a cache that knows what each notebook depends on.

What runs is the **self-contained notebook** the page offers (:mod:`paperclub.standalone`): it writes the
implementation it imports and the notebook runtime into an empty folder and runs there, in a fresh kernel
whose Python sees only the public packages (a throwaway venv without the project), so every build proves
the download portable and the page shows exactly what ran. Each run happens in its own subprocess (so a
hung notebook can be killed at the time limit) and each result is a :class:`~paperclub.rundir.RunDir`: the
executed notebook, the metrics, the figures, ``meta.json`` and ``provenance.json`` (which Python ran it,
and where the imported modules came from). The page's run is seed 0 in ``<cache>/<slug>/``; a sweep's
re-runs at seeds 1…N-1 live in ``<cache>/sweep/<slug>/seed-<n>/`` (:func:`run_path`).

Threads: everything that parses Python (``ast``, jupytext) runs in the calling thread, in :func:`plan`;
worker threads only start subprocesses and move folders (CPython 3.11's ``ast`` is not thread-safe:
gh-106905).

The cache key hashes everything a result depends on: the notebook's text, the source of every
``minimal_impls`` module it imports (followed transitively), the notebook runtime (``paperclub.runtime``
and the run-folder contract), the data files the paper declares (``inputs:`` and ``data/<slug>/``), and
the versions of Python and the main libraries. Change any of them and exactly the affected notebooks run
again; ``force`` runs chosen ones regardless.
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Literal

from paperclub import worker
from paperclub.errors import PaperclubError
from paperclub.rundir import RunDir

LIBRARIES = ("torch", "numpy", "scipy", "matplotlib", "scikit-learn", "scikit-image", "pillow",
             "nbclient", "ipykernel", "jupytext")
PACKAGE = "minimal_impls"
# the notebook runtime every notebook imports: part of every cache key
RUNTIME = tuple(Path(__file__).parent / name for name in ("__init__.py", "runtime.py", "rundir.py", "standalone.py",
                                                         "worker.py"))
TMP_PREFIX = "."  # a run in progress lives in <cache>/.<slug>-XXXX until it is promoted
# matplotlib settings every kernel runs with (part of the cache key): sharper inline figures than the
# default 100 dpi, still light enough for the page budget
MATPLOTLIBRC = worker.MATPLOTLIBRC


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
    status: Literal["executed", "cached", "stale", "failed"]
    seconds: float          # how long the notebook took when it last ran
    run: RunDir | None      # the cache folder holding the run
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: tuple[Path, ...] = ()

    seed: int = 0
    sweep: tuple[dict[str, Any], ...] | None = None   # metrics of seeds 0…N-1 when a current sweep exists

    @classmethod
    def load(cls, slug: str, status: Literal["executed", "cached"], seconds: float, run: RunDir,
             seed: int = 0) -> "NotebookResult":
        try:
            metrics = run.read_metrics()
            if not isinstance(metrics, dict):
                raise ValueError("not a JSON object")
        except (ValueError, OSError) as err:
            raise PaperclubError(f"{run.metrics_file}: unreadable metrics ({err}); rebuild with --force {slug}") from None
        return cls(slug, status, seconds, run, None, metrics, tuple(run.figures()), seed)

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
              inputs: list[Path] = (), seed: int = 0) -> str:
    """sha256 of everything the notebook's result depends on (see the module docstring), at ``seed``."""
    base = _base_key(notebook, impl_dir, versions, inputs)
    return seeded_key(base, seed)


def seeded_key(base: str, seed: int) -> str:
    """The key of the run at ``seed`` from the seed-0 key (the page's run keeps the plain key)."""
    return base if seed == 0 else hashlib.sha256(f"{base}\0seed {int(seed)}".encode()).hexdigest()


def _base_key(notebook: Path, impl_dir: Path, versions: dict[str, str] | None, inputs: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(b"notebook\0" + notebook.read_bytes())
    for dep in dependencies(notebook, impl_dir):
        h.update(f"\0module {dep.name}\0".encode() + dep.read_bytes())
    for src in RUNTIME:
        h.update(f"\0runtime {src.name}\0".encode() + src.read_bytes())
    for data in sorted(inputs):
        h.update(f"\0input {data.as_posix()}\0".encode())
        with open(data, "rb") as fh:   # in blocks: a data file may be larger than memory
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    h.update(b"\0matplotlibrc\0" + MATPLOTLIBRC.encode())
    h.update(json.dumps(versions if versions is not None else library_versions(), sort_keys=True).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- where runs live

def run_path(cache_dir: Path, slug: str, seed: int = 0) -> Path:
    """The page's run (seed 0) is ``<cache>/<slug>``; a sweep's re-run is ``<cache>/sweep/<slug>/seed-<n>``."""
    return cache_dir / slug if seed == 0 else cache_dir / "sweep" / slug / f"seed-{seed}"


def run_label(slug: str, seed: int) -> str:
    return slug if seed == 0 else f"{slug}@seed{seed}"


# --------------------------------------------------------------------------- the isolated kernel

KERNEL_NAME = "paperclub-isolated"


def kernel_home(work_dir: Path) -> Path:
    """A throwaway venv whose Python sees the public packages of this one but not the project (the
    editable install's import hook lives in a ``.pth`` file that a plain path entry does not run), and a
    Jupyter data folder with a kernelspec for it. Made once per cache folder, inside it (call in the main
    thread)."""
    home = work_dir / ".paperclub-kernel"
    spec = home / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    python = home / "venv" / "bin" / "python"
    if spec.exists() and python.exists():
        return home
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".paperclub-kernel-", dir=work_dir))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True,
                       capture_output=True, text=True)
        import site as site_mod
        import sysconfig

        paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site_mod.getsitepackages()]
        purelib = subprocess.run([str(tmp / "venv" / "bin" / "python"), "-c",
                                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        Path(purelib, "_paperclub_public_packages.pth").write_text(
            "".join(f"{p}\n" for p in dict.fromkeys(paths)), encoding="utf-8")
        kspec = tmp / "jupyter" / "kernels" / KERNEL_NAME
        kspec.mkdir(parents=True)
        # the venv's python by its path inside the final folder; -s: no user site
        (kspec / "kernel.json").write_text(json.dumps({
            "argv": [str(home / "venv" / "bin" / "python"), "-s", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (paperclub, isolated)", "language": "python"}), encoding="utf-8")
    except (subprocess.CalledProcessError, OSError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        detail = getattr(err, "stderr", None) or str(err)
        raise PaperclubError(f"cannot make the isolated notebook kernel in {work_dir}: {detail.strip()[-300:]}") from None
    shutil.rmtree(home, ignore_errors=True)
    tmp.rename(home)
    # venv scripts hard-code their own path: the python symlink does not, and it is all we use
    return home


def kernel_env(run: RunDir, home: Path, seed: int, threads: int, project_root: Path) -> dict[str, str]:
    """The runner's environment: nothing of the caller's Python, Jupyter or paperclub settings leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PAPERCLUB", "JUPYTER", "IPYTHON", "VIRTUAL_ENV", "MPLBACKEND", "JPY_"))}
    jup = run.path / ".jupyter"
    env.update(run.env(seed))
    env.update(
        # the runner itself imports this project's paperclub; it drops PYTHONPATH before the kernel starts
        PYTHONPATH=str(project_root), PYTHONHASHSEED="0", PYTHONNOUSERSITE="1",
        JUPYTER_PATH=str(home / "jupyter"), JUPYTER_DATA_DIR=str(jup / "data"),
        JUPYTER_CONFIG_DIR=str(jup / "config"), JUPYTER_RUNTIME_DIR=str(jup / "runtime"),
        IPYTHONDIR=str(jup / "ipython"),
        OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
        MPLBACKEND="module://matplotlib_inline.backend_inline", MATPLOTLIBRC=str(run.path / "matplotlibrc"))
    return env


def run_processes(inside: Path) -> list[int]:
    """Every process (runner, kernel, anything they started) whose run folder lies in ``inside``: they
    carry it in ``PAPERCLUB_RUN_DIR`` (Linux ``/proc``; elsewhere none are found)."""
    from paperclub.rundir import ENV

    root = str(inside.resolve())
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(ENV.encode() + b"="):
                target = item.split(b"=", 1)[1].decode(errors="replace")
                if target == root or target.startswith(root + os.sep):
                    found.append(int(entry.name))
                break
    return found


def kill_run_processes(inside: Path) -> int:
    """Kill every process of the runs in ``inside`` (:func:`run_processes`). Kernels start in a session of
    their own, so killing the runner does not stop them."""
    killed = 0
    for pid in run_processes(inside):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            pass
    return killed


# --------------------------------------------------------------------------- running one notebook

def run_one(ipynb: Path, run: RunDir, cell_timeout: int, work: Path) -> None:
    """Execute the self-contained notebook ``ipynb`` with ``work`` (an empty folder) as its working
    directory, into ``run``; on failure write its error file, keep the executed notebook, and exit 1.

    Called in a subprocess by :func:`run_job` (``python -m paperclub.execute``); the work itself is
    :func:`paperclub.worker.execute_notebook`, which a Dask worker runs too.
    """
    import nbformat

    os.environ.pop("PYTHONPATH", None)   # the kernel sees only public packages and its own written files
    nb, failure, provenance = worker.execute_notebook(ipynb.read_text(encoding="utf-8"), work, cell_timeout,
                                                      KERNEL_NAME)
    nbformat.write(nb, run.notebook)
    if failure is not None:
        run.error_file.write_text(failure, encoding="utf-8")
        sys.exit(1)
    (run.path / "provenance.json").write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    run.cpu_file.write_text(f"{worker.cpu_seconds():.2f}", encoding="utf-8")


# --------------------------------------------------------------------------- running them all: plan, run, promote

@dataclass(frozen=True)
class Job:
    """A notebook run that must happen: which paper, the cache key its result is stored under, the seed,
    and the self-contained notebook to run (prepared in the calling thread)."""
    slug: str
    notebook: Path
    key: str
    seed: int = 0
    ipynb: str = field(default="", compare=False, repr=False)
    inputs: tuple[tuple[str, Path], ...] = field(default=(), compare=False, repr=False)

    @property
    def label(self) -> str:
        return run_label(self.slug, self.seed)


def self_contained(slug: str, notebook: Path, impl_dir: Path) -> str:
    """The self-contained notebook (JSON text) that a run executes and the page offers."""
    import nbformat

    from paperclub import standalone

    nb = standalone.make_notebook(slug, notebook, impl_dir)
    nb.metadata["paperclub"]["source"] = read_text(notebook)
    return nbformat.writes(nb)


def _read_meta(run: RunDir) -> dict:
    try:
        meta = json.loads(run.meta_file.read_text(encoding="utf-8"))
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def plan(notebooks: dict[str, Path], impl_dir: Path, cache_dir: Path, versions: dict[str, str], *,
         inputs: dict[str, list[Path]] | None = None, force: set[str] | bool = False, seed: int = 0,
         ) -> tuple[dict[str, NotebookResult], list[Job]]:
    """Split the notebooks into cached results and jobs to run, at ``seed``. Parses every source here,
    in the calling thread."""
    results: dict[str, NotebookResult] = {}
    jobs: list[Job] = []
    root = impl_dir.parent
    for slug, nb in sorted(notebooks.items()):
        if not nb.exists():
            results[slug] = NotebookResult.failed(slug, 0.0, f"{nb.parent.name}/{nb.name}: file not found")
            continue
        data = (inputs or {}).get(slug, [])
        key = cache_key(nb, impl_dir, versions, data, seed)
        run = RunDir(run_path(cache_dir, slug, seed))
        forced = force is True or (isinstance(force, set) and slug in force)
        meta = _read_meta(run) if not forced else {}
        if meta.get("key") == key and run.notebook.exists() and run.metrics_file.exists():
            try:
                results[slug] = NotebookResult.load(slug, "cached", float(meta.get("seconds", 0.0)), run, seed)
                continue
            except PaperclubError:
                pass   # a damaged cache entry runs again
        rel = tuple((d.resolve().relative_to(root.resolve()).as_posix() if d.resolve().is_relative_to(root.resolve())
                     else d.name, d) for d in data)
        jobs.append(Job(slug, nb, key, seed, self_contained(slug, nb, impl_dir), rel))
    return results, jobs


def run_job(job: Job, impl_dir: Path, cache_dir: Path, *, threads: int, limit_s: int,
            kernel: Path | None = None, failed_dir: Path | None = None) -> tuple[NotebookResult, RunDir | None]:
    """Run one self-contained notebook in an empty folder into a fresh temporary run folder; return its
    result and that folder. A failed run's executed notebook is kept in ``failed_dir``."""
    t0 = time.monotonic()
    cache_dir.mkdir(parents=True, exist_ok=True)
    kernel = kernel or kernel_home(cache_dir)
    run = RunDir(Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{job.slug}-", dir=cache_dir)))
    work = run.path / "work"
    work.mkdir()
    for rel, src in job.inputs:     # the data files the paper declares, at the same relative paths
        dest = work / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    source = run.path / "input.ipynb"
    source.write_text(job.ipynb, encoding="utf-8")
    (run.path / "matplotlibrc").write_text(MATPLOTLIBRC, encoding="utf-8")
    env = kernel_env(run, kernel, job.seed, threads, impl_dir.parent.resolve())
    name = f"{job.notebook.parent.name}/{job.notebook.name}" + (f" (seed {job.seed})" if job.seed else "")
    proc = subprocess.Popen([sys.executable, "-m", "paperclub.execute", str(source), str(run.path), str(limit_s),
                             str(work)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=work, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        kill_run_processes(run.path)
        proc.kill()
        proc.communicate()
        return NotebookResult.failed(job.slug, float(limit_s), f"{name}: exceeded the time limit of {limit_s} s"), run
    except BaseException:
        kill_run_processes(run.path)
        proc.kill()
        raise
    finally:
        kill_run_processes(run.path)   # nothing a run started outlives it
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        if run.error_file.exists():
            msg = run.error_file.read_text(encoding="utf-8").strip()
        else:
            tail = [ln for ln in (stderr or "").strip().splitlines() if ln.strip()]
            msg = tail[-1] if tail else f"exited with code {proc.returncode}"
        if failed_dir is not None and run.notebook.exists():
            failed_dir.mkdir(parents=True, exist_ok=True)
            kept = failed_dir / f"{job.slug}{f'-seed-{job.seed}' if job.seed else ''}.ipynb"
            shutil.copy2(run.notebook, kept)
            first, _, rest = msg.partition("\n")
            msg = first + f" [executed notebook kept in {kept}]" + ("\n" + rest if rest else "")
        return NotebookResult.failed(job.slug, seconds, f"{name}: {msg}"), run
    # the figure pages show: CPU seconds (what the notebook costs alone), else wall time
    try:
        cpu = float(run.cpu_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cpu = None
    seconds = cpu if cpu is not None else seconds
    run.meta_file.write_text(json.dumps({"key": job.key, "seed": job.seed, "seconds": round(seconds, 2),
                                         "wall_seconds": round(time.monotonic() - t0, 2)}, indent=2),
                             encoding="utf-8")
    return NotebookResult.load(job.slug, "executed", seconds, run, job.seed), run


def promote(result: NotebookResult, cache_dir: Path) -> NotebookResult:
    """Move a finished run to its place in the cache, replacing the previous result (a failed run is not kept)."""
    if not result.ok or result.run is None:
        return result
    final = run_path(cache_dir, result.slug, result.seed)
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(f"{TMP_PREFIX}{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    result.run.path.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return NotebookResult.load(result.slug, result.status, result.seconds, RunDir(final), result.seed)  # type: ignore[arg-type]


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


def run_jobs(todo: list[Job], impl_dir: Path, cache_dir: Path, *, jobs: int | None = None, limit_s: int = 300,
             failed_dir: Path | None = None, log: Callable[[str], None] = print, client: Any = None,
             store: Any = None, gpu: set[str] | None = None) -> list[NotebookResult]:
    """Run ``todo`` and promote each finished run into the cache; return the results in completion order.

    Locally: ``jobs`` at a time, in threads that start subprocesses (nothing here parses Python). With a
    Dask ``client``: as tasks on the cluster (:mod:`paperclub.cluster`). With a shared ``store``: a run
    another machine already stored is fetched instead of run, and every new run is stored."""
    if not todo:
        return []
    out: list[NotebookResult] = []
    cache_dir.mkdir(parents=True, exist_ok=True)
    if store is not None:
        remaining = []
        for job in todo:
            tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{job.slug}-", dir=cache_dir))
            tmp.rmdir()
            try:
                found = store.fetch(job.key, tmp)
                meta = _read_meta(RunDir(tmp)) if found else {}
                if found and meta.get("key") == job.key:
                    res = NotebookResult.load(job.slug, "cached", float(meta.get("seconds", 0.0)), RunDir(tmp), job.seed)
                    out.append(promote(res, cache_dir))
                    log(f"  {run_label(job.slug, job.seed):<28} fetched   from the shared cache")
                    continue
            except (OSError, ValueError, PaperclubError) as err:
                log(f"  {run_label(job.slug, job.seed):<28} shared cache entry unusable ({err}); running it")
            shutil.rmtree(tmp, ignore_errors=True)
            remaining.append(job)
        todo = remaining
        if not todo:
            return out
    total, done = len(todo), 0

    def finish(res: NotebookResult) -> NotebookResult:
        nonlocal done
        res = promote(res, cache_dir)
        done += 1
        mark = "executed" if res.ok else "FAILED"
        log(f"  [{done}/{total}] {run_label(res.slug, res.seed):<28} {mark:<9} {res.seconds:6.1f} s"
            + (f"  {res.error}" if res.error else ""))
        if store is not None and res.ok and res.run is not None:
            store.put(_read_meta(res.run)["key"], res.run.path)
        return res

    leftovers: list[RunDir] = []
    if client is not None:
        from paperclub import cluster

        try:
            for res, run in cluster.run_on_cluster(client, todo, cache_dir, limit_s=limit_s, gpu=gpu or set(), log=log):
                if run is not None:
                    leftovers.append(run)
                out.append(finish(res))
        finally:
            for run in leftovers:
                shutil.rmtree(run.path, ignore_errors=True)
        return out

    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    # one notebook per core, one thread each: small torch models on oversubscribed cores slow down
    # by an order of magnitude (threads spin while waiting), so never give a kernel more than its share
    threads = max(1, (os.cpu_count() or 1) // workers)
    kernel = kernel_home(cache_dir)
    started: dict[str, float] = {}
    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(10.0):
            now = time.monotonic()
            busy = ", ".join(f"{s} {now - t:.0f}s" for s, t in sorted(dict(started).items()))
            if busy:
                log(f"  … [{done}/{total}] running: {busy}")

    def work(job: Job) -> tuple[NotebookResult, RunDir | None]:
        started[job.label] = time.monotonic()
        try:
            return run_job(job, impl_dir, cache_dir, threads=threads, limit_s=limit_s, kernel=kernel,
                           failed_dir=failed_dir)
        finally:
            started.pop(job.label, None)

    threading.Thread(target=ticker, daemon=True).start()
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for fut in as_completed([pool.submit(work, job) for job in todo]):
            res, run = fut.result()
            if run is not None:
                leftovers.append(run)
            out.append(finish(res))
    except BaseException:
        # Ctrl-C or a crash: stop every run of this cache now, kernels included, and drop the queue
        pool.shutdown(wait=False, cancel_futures=True)
        for run in leftovers:
            kill_run_processes(run.path)
        for p in cache_dir.glob(f"{TMP_PREFIX}*"):
            kill_run_processes(p)
        raise
    finally:
        stop.set()
        pool.shutdown(wait=True)
        for run in leftovers:  # failed runs; promoted ones have moved away
            shutil.rmtree(run.path, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- sweeps: the same notebook at seeds 1…N-1

DEFAULT_SEEDS = 5


def sweep_file(cache_dir: Path, slug: str) -> Path:
    """What the last sweep of a paper ran: how many seeds, under which keys."""
    return cache_dir / "sweep" / slug / "sweep.json"


def sweep_jobs(notebooks: dict[str, Path], impl_dir: Path, cache_dir: Path, versions: dict[str, str], *,
               seeds: int, inputs: dict[str, list[Path]] | None = None, force: set[str] | bool = False,
               ) -> tuple[dict[tuple[str, int], NotebookResult], list[Job]]:
    """Cached results and jobs to run for seeds 0…``seeds``-1 of every notebook (seed 0 is the page's run)."""
    results: dict[tuple[str, int], NotebookResult] = {}
    todo: list[Job] = []
    for seed in range(seeds):
        cached, jobs = plan(notebooks, impl_dir, cache_dir, versions, inputs=inputs, force=force, seed=seed)
        results.update({(slug, seed): r for slug, r in cached.items()})
        todo += jobs
    # the page's runs first, then seed by seed: a sweep interrupted early still leaves whole seeds
    return results, sorted(todo, key=lambda j: (j.seed, j.slug))


def write_sweep(cache_dir: Path, slug: str, keys: list[str]) -> None:
    f = sweep_file(cache_dir, slug)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"n": len(keys), "keys": keys}, indent=2), encoding="utf-8")


def sweep_metrics(cache_dir: Path, slug: str, base_key: str) -> tuple[dict[str, Any], ...] | None:
    """The metrics of seeds 0…N-1 of the last sweep, when every one of its runs is current (same notebook,
    implementation, runtime and libraries as the page's run ``base_key``); else None ("not re-run")."""
    try:
        info = json.loads(sweep_file(cache_dir, slug).read_text(encoding="utf-8"))
        n = int(info["n"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if n < 2:
        return None
    runs = []
    for seed in range(n):
        run = RunDir(run_path(cache_dir, slug, seed))
        if _read_meta(run).get("key") != seeded_key(base_key, seed):
            return None
        try:
            metrics = run.read_metrics()
        except (OSError, ValueError):
            return None
        if not isinstance(metrics, dict) or not run.metrics_file.exists():
            return None
        runs.append(metrics)
    return tuple(runs)


def execute_all(
    notebooks: dict[str, Path],
    impl_dir: Path,
    cache_dir: Path,
    *,
    jobs: int | None = None,
    limit_s: int = 300,
    force: set[str] | bool = False,
    inputs: dict[str, list[Path]] | None = None,
    failed_dir: Path | None = None,
    log: Callable[[str], None] = print,
    client: Any = None,
    store: Any = None,
    gpu: set[str] | None = None,
) -> dict[str, NotebookResult]:
    """Execute every notebook (seed 0) whose cache key changed, ``jobs`` at a time; return a result per slug.

    A failing notebook never stops the others; its last good result stays in the cache. Papers in ``gpu``
    run only on a cluster (``client``) with a GPU worker; without one they keep their last cached result
    (status ``stale``) or fail with one line when there is none.
    """
    results, todo = plan(notebooks, impl_dir, cache_dir, library_versions(), inputs=inputs, force=force)
    todo, results = _hold_back_gpu(todo, results, cache_dir, gpu or set(), client)
    for res in run_jobs(todo, impl_dir, cache_dir, jobs=jobs, limit_s=limit_s, failed_dir=failed_dir, log=log,
                        client=client, store=store, gpu=gpu):
        results[res.slug] = res
    return results


def _hold_back_gpu(todo: list[Job], results: dict[str, NotebookResult], cache_dir: Path, gpu: set[str],
                   client: Any) -> tuple[list[Job], dict[str, NotebookResult]]:
    """Runs that need a GPU where none can be had: keep the last cached result, or fail in one line."""
    if not gpu:
        return todo, results
    if client is not None:
        from paperclub import cluster

        if cluster.gpu_workers(client):
            return todo, results
    keep = []
    for job in todo:
        if job.slug not in gpu:
            keep.append(job)
            continue
        run = RunDir(run_path(cache_dir, job.slug, job.seed))
        meta = _read_meta(run)
        where = "the cluster has no worker with --resources GPU=1" if client is not None else \
            "no --scheduler with a GPU worker was given"
        if meta and run.metrics_file.exists():
            res = NotebookResult.load(job.slug, "cached", float(meta.get("seconds", 0.0)), run, job.seed)
            results[job.slug] = dataclasses.replace(res, status="stale", error=f"needs a GPU and {where}; "
                                                    "showing its last cached run")
        else:
            results[job.slug] = NotebookResult.failed(job.slug, 0.0, f"{job.notebook.parent.name}/{job.notebook.name}: "
                                                      f"needs a GPU and {where} (and no earlier run is cached)")
    return keep, results


if __name__ == "__main__":  # pragma: no cover - exercised through run_job
    run_one(Path(sys.argv[1]).resolve(), RunDir(Path(sys.argv[2]).resolve()), int(sys.argv[3]),
            Path(sys.argv[4]).resolve())
