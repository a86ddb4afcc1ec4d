"""Beyond one machine: notebook runs on a Dask cluster, and a cache shared between machines.

* :func:`connect` opens a ``dask.distributed`` client (``--scheduler tcp://host:8786`` or
  ``PAPERCLUB_SCHEDULER``); an unreachable scheduler is one line, before any work starts.
* :func:`run_on_cluster` submits each run as one task: the payload is the self-contained notebook (which
  already carries the implementation it imports), the data files the paper declares, the seed and the time
  limit; :func:`paperclub.worker.run_payload` (sent by value, so a worker needs only public packages,
  never a clone) returns the executed notebook, metrics, figures and CPU time, which the client puts into
  its cache exactly as a local run. Papers whose front matter says ``needs: {gpu: 1}`` go only to workers
  started with ``--resources GPU=1``. A worker that dies mid-run has its task re-run elsewhere by the
  scheduler; a task that kills workers again is reported in one line. Ctrl-C cancels the cluster's tasks.
* :class:`SharedStore` is a content-addressed store of finished runs at an fsspec URL (``file://``,
  ``s3://``, ``gs://`` …): one immutable ``<key>.tar`` per run, uploaded under a temporary name and moved
  into place, so concurrent builds share results and never read a partial upload.

Dask and fsspec are an optional extra: ``pip install 'paperclub[cluster]'``.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from paperclub import worker
from paperclub.errors import PaperclubError
from paperclub.rundir import RunDir

ENV = "PAPERCLUB_SCHEDULER"
INSTALL = "pip install 'paperclub[cluster]'"


# --------------------------------------------------------------------------- the cluster

def connect(address: str, timeout: float = 10.0):
    """A client of the scheduler at ``address``; one clear line when Dask is missing or nobody answers."""
    try:
        import cloudpickle
        import distributed
    except ImportError:
        raise PaperclubError(f"--scheduler {address}: Dask is not installed here; {INSTALL}") from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise PaperclubError(f"--scheduler {address}: cannot reach the Dask scheduler ({err}); start one with "
                             "'dask scheduler' and workers with 'dask worker ADDRESS'") from None
    from paperclub import rundir

    # the worker needs no paperclub: the two modules a task runs are sent along by value
    for module in (worker, rundir):
        cloudpickle.register_pickle_by_value(module)
    return client


def gpu_workers(client) -> list[str]:
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return sorted(addr for addr, w in info.get("workers", {}).items() if w.get("resources", {}).get("GPU", 0) >= 1)


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def run_on_cluster(client, todo: list, cache_dir: Path, *, limit_s: int, gpu: set[str],
                   log: Callable[[str], None] = print) -> list[tuple[Any, RunDir | None]]:
    """Submit every job; yield ``(result, run folder)`` pairs as :func:`paperclub.execute.run_job` does,
    the run folder holding what the worker returned (not yet promoted)."""
    from distributed.client import FutureCancelledError

    from paperclub.execute import TMP_PREFIX, NotebookResult

    futures = {}
    submitted = time.monotonic()
    for job in todo:
        payload = {"ipynb": job.ipynb, "inputs": {rel: Path(src).read_bytes() for rel, src in job.inputs},
                   "seed": job.seed, "limit_s": limit_s, "threads": 1,
                   "device": "cuda" if job.slug in gpu else None}
        fut = client.submit(worker.run_payload, payload, key=f"paperclub-{job.label}-{job.key[:16]}-{uuid.uuid4().hex[:6]}",
                            resources={"GPU": 1} if job.slug in gpu else None, pure=False)
        futures[fut] = job
    labels = {f.key: j.label for f, j in futures.items()}
    stop = threading.Event()
    first_seen: dict[str, float] = {}

    def ticker() -> None:
        while not stop.wait(10.0):
            try:
                processing = client.processing()
            except Exception:  # noqa: BLE001 - progress is best effort
                continue
            now = time.monotonic()
            busy = []
            for addr, keys in sorted(processing.items()):
                for key in keys:
                    if key in labels:
                        first_seen.setdefault(key, now)
                        busy.append(f"{labels[key]} on {addr} {now - first_seen[key]:.0f}s")
            if busy:
                log("  … running on the cluster: " + ", ".join(busy))

    threading.Thread(target=ticker, daemon=True).start()
    out = []
    try:
        for fut in _as_completed(list(futures)):
            job = futures[fut]
            run = RunDir(Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{job.slug}-", dir=cache_dir)))
            name = f"{job.notebook.parent.name}/{job.notebook.name}" + (f" (seed {job.seed})" if job.seed else "")
            try:
                res = fut.result()
            except FutureCancelledError:
                out.append((NotebookResult.failed(job.slug, 0.0, f"{name}: cancelled on the cluster"), run))
                continue
            except Exception as err:  # noqa: BLE001 - KilledWorker and friends: one line
                kind = type(err).__name__
                why = ("the workers running it died (it was retried elsewhere and died again)"
                       if kind == "KilledWorker" else f"{kind}: {str(err).splitlines()[0] if str(err) else ''}")
                out.append((NotebookResult.failed(job.slug, time.monotonic() - submitted, f"{name}: {why}"), run))
                continue
            worker.unpack(res, run)
            if not res["ok"]:
                out.append((NotebookResult.failed(job.slug, res["wall"], f"{name}: {res['error']}"), run))
                continue
            (run.path / "worker.json").write_text(json.dumps({"host": res["host"]}), encoding="utf-8")
            run.meta_file.write_text(json.dumps({"key": job.key, "seed": job.seed, "seconds": round(res["cpu"], 2),
                                                 "wall_seconds": round(res["wall"], 2), "where": res["host"]},
                                                indent=2), encoding="utf-8")
            out.append((NotebookResult.load(job.slug, "executed", res["cpu"], run, job.seed), run))
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        stop.set()
    return out


def _as_completed(futures: list):
    """Futures in the order they finish (polling: this client is never the process's default one)."""
    pending = list(futures)
    while pending:
        done = [f for f in pending if f.done()]
        for f in done:
            pending.remove(f)
            yield f
        if not done:
            time.sleep(0.1)


# --------------------------------------------------------------------------- a cache shared between machines

def is_url(text: str | os.PathLike) -> bool:
    return "://" in str(text)


class SharedStore:
    """Finished runs at an fsspec URL, one immutable ``<key>.tar`` each (the key is the content hash)."""

    def __init__(self, url: str):
        try:
            import fsspec
        except ImportError:
            raise PaperclubError(f"--cache {url}: fsspec is not installed here; {INSTALL}") from None
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
            self.fs.makedirs(self.root, exist_ok=True)
        except (ValueError, ImportError, OSError) as err:
            raise PaperclubError(f"--cache {url}: cannot open this cache ({err})") from None
        self.url = url

    def _path(self, key: str) -> str:
        if not key.isalnum():
            raise ValueError(f"not a cache key: {key!r}")
        return f"{self.root.rstrip('/')}/{key}.tar"

    def has(self, key: str) -> bool:
        return self.fs.exists(self._path(key))

    def fetch(self, key: str, dest: Path) -> bool:
        """Unpack the run stored under ``key`` into the new folder ``dest``; False when there is none."""
        path = self._path(key)
        try:
            blob = self.fs.cat_file(path)   # read whole: an entry exists only once it is complete
        except FileNotFoundError:
            return False
        dest.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(dest, filter="data")
        return True

    def put(self, key: str, run: Path) -> bool:
        """Store a finished run once: upload under a temporary name, then move it into place. Returns
        False when the entry was already there (another build stored it first)."""
        final = self._path(key)
        if self.fs.exists(final):
            return False
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in sorted(run.rglob("*")):
                rel = f.relative_to(run)
                if f.is_file() and not f.is_symlink() and rel.parts[0] not in ("work", ".jupyter"):
                    tar.add(f, arcname=rel.as_posix())
        tmp = f"{self.root.rstrip('/')}/.{key}.{uuid.uuid4().hex}.partial"
        self.fs.pipe_file(tmp, buf.getvalue())
        if getattr(self.fs, "protocol", None) in ("file", ("file", "local"), "local") or \
                "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)):
            try:   # a hard link never replaces an entry another build finished first: written exactly once
                os.link(tmp, final)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        self.fs.mv(tmp, final)
        return True
