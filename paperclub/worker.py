"""Running one self-contained notebook: the part of the executor that also runs on a Dask worker.

A worker of a cluster has the public packages (nbclient, ipykernel and what the notebooks import) and
nothing of the project: this module is sent to it by value (cloudpickle), so it imports only the standard
library at the top, nbformat/nbclient inside the functions, and :mod:`paperclub.rundir` (sent the same way).
:func:`execute_notebook` is the one place a notebook is executed, locally (``paperclub.execute.run_one``, in
a subprocess) or remotely (:func:`run_payload`).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from paperclub.rundir import RunDir

MATPLOTLIBRC = "figure.dpi: 120\nsavefig.dpi: figure\n"


PROBE_BEFORE = ("import importlib.util as _pc_u\n"
                "print('PAPERCLUB_PROBE_BEFORE', [m for m in ('minimal_impls', 'paperclub') if _pc_u.find_spec(m)])")
PROBE_AFTER = ("import sys as _pc_sys, json as _pc_json\n"
               "_pc = {'python': _pc_sys.executable}\n"
               "for _pc_m in ('minimal_impls', 'paperclub'):\n"
               "    _pc[_pc_m] = getattr(_pc_sys.modules.get(_pc_m), '__file__', None)\n"
               "print('PAPERCLUB_PROBE_AFTER', _pc_json.dumps(_pc))")


def _probe_output(cell: Any, tag: str) -> str | None:
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(tag + " "):
                return line[len(tag) + 1:]
    return None


def _line_of_cell(py_text: str, n_cells: int, index: int) -> int | None:
    """The line in the ``.py`` file where cell ``index`` starts (jupytext py:percent markers)."""
    markers = [i + 1 for i, line in enumerate(py_text.splitlines()) if line.startswith("# %%")]
    offset = n_cells - len(markers)
    if offset not in (0, 1) or index - offset < 0:
        return None
    return markers[index - offset]


def _own_cells(nb: Any) -> int:
    """How many set-up cells the self-contained notebook puts before the notebook's own cells."""
    n = 0
    for i, cell in enumerate(nb.cells):
        if str(cell.get("id", "")).startswith("pc-"):
            n = i + 1
    return n


def _traceback_tail(output: dict, frames: int = 3) -> str:
    import re as _re

    lines = [_re.sub(r"\x1b\[[0-9;]*m", "", ln) for tb in output.get("traceback", []) for ln in tb.splitlines()]
    lines = [ln for ln in lines if ln.strip() and not set(ln.strip()) <= set("-")]
    # keep the last frames: each frame starts with a file/cell header line
    starts = [i for i, ln in enumerate(lines) if ln.startswith(("File ", "Cell In", "  File "))]
    keep = lines[starts[-frames]:] if len(starts) >= frames else lines[-12:]
    return "\n".join(keep[-15:])


def _describe_failure(nb: Any, err: Exception, cell_timeout: int, text: str | None = None) -> str:
    """``cell N (line L): Error: message`` for the first cell that failed (numbered as in the ``.py``),
    then the last frames of its traceback."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    skip = _own_cells(nb)
    own = len(nb.cells) - skip
    py = text if text is not None else nb.metadata.get("paperclub", {}).get("source", "")

    def where(i: int) -> str:
        if i < skip:
            return f"set-up cell {i + 1}"
        line = _line_of_cell(py, own, i - skip) if py else None
        return f"cell {i - skip + 1}" + (f" (line {line})" if line else "")

    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                tail = _traceback_tail(output)
                return f"{where(i)}: {output['ename']}: {output['evalue']}" + \
                       ("\n" + "\n".join("    " + ln for ln in tail.splitlines()) if tail else "")
    # no error output: the cell that started and never finished (a timeout, or a kernel that died)
    # cells run in order: the first code cell without a reply is the one that was running
    running = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
               and "shell.execute_reply" not in c.metadata.get("execution", {})
               and not str(c.get("id", "")).startswith("pc-probe")]
    at = where(running[0]) + ": " if running else ""
    if isinstance(err, CellTimeoutError):
        return f"{at}ran longer than {cell_timeout} s"
    if isinstance(err, DeadKernelError):
        return f"{at}the kernel died (it exited or was killed) while the cell ran"
    return at + (str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__)




def execute_notebook(nb_text: str, work: Path, cell_timeout: int, kernel_name: str,
                     env: dict[str, str] | None = None) -> tuple[Any, str | None, dict[str, Any]]:
    """Run a self-contained notebook with ``work`` as its folder; return the executed notebook, a failure
    description (or None) and its provenance (which Python ran it, where the modules came from).

    ``env`` is the kernel's environment (default: this process's)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.reads(nb_text, as_version=4)
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": "Python 3", "language": "python"}
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE_BEFORE, id="pc-probe-before"))
    nb.cells.append(nbformat.v4.new_code_cell(PROBE_AFTER, id="pc-probe-after"))
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(work)}})
    failure = None
    try:
        client.execute(**({"env": env} if env is not None else {}))
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        failure = err
    before = _probe_output(nb.cells[0], "PAPERCLUB_PROBE_BEFORE")
    after = _probe_output(nb.cells[-1], "PAPERCLUB_PROBE_AFTER")
    nb.cells = [c for c in nb.cells if c.get("id") not in ("pc-probe-before", "pc-probe-after")]
    if failure is not None:
        return nb, _describe_failure(nb, failure, cell_timeout), {}
    provenance = json.loads(after) if after else {}
    work = work.resolve()
    for module in ("minimal_impls", "paperclub"):   # where the modules came from, relative to the run's folder
        found = provenance.get(module)
        if found and Path(found).resolve().is_relative_to(work):
            provenance[module] = "work/" + Path(found).resolve().relative_to(work).as_posix()
    provenance["importable_before"] = json.loads(before.replace("'", '"')) if before else None
    provenance["host"] = socket.gethostname()
    return nb, None, provenance


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the kernel, once it has exited)."""
    import resource

    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def run_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A Dask task: run one notebook from its payload (the self-contained notebook, its data files, seed,
    time limit) in a fresh folder of the worker, and return everything the client needs to put the run in
    its cache exactly as a local run: the executed notebook, metrics, figures, CPU time, provenance."""
    import nbformat

    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="paperclub-run-"))
    try:
        run, work = RunDir(tmp / "run"), tmp / "work"
        run.path.mkdir()
        work.mkdir()
        for rel, blob in payload.get("inputs", {}).items():
            dest = (work / rel).resolve()
            if not dest.is_relative_to(work.resolve()):
                raise ValueError(f"input {rel!r} lies outside the run's folder")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(blob)
        (run.path / "matplotlibrc").write_text(MATPLOTLIBRC, encoding="utf-8")
        threads = str(payload.get("threads", 1))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERCLUB", "PYTHONPATH", "MPLBACKEND"))}
        env.update(run.env(int(payload.get("seed", 0))), OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   OPENBLAS_NUM_THREADS=threads, PYTHONHASHSEED="0",
                   MPLBACKEND="module://matplotlib_inline.backend_inline",
                   MATPLOTLIBRC=str(run.path / "matplotlibrc"))
        if payload.get("device"):
            env["PAPERCLUB_DEVICE"] = payload["device"]
        cpu0 = cpu_seconds()
        nb, failure, provenance = execute_notebook(payload["ipynb"], work, int(payload["limit_s"]),
                                                   payload.get("kernel", "python3"), env)
        figures = {}
        if run.figures_dir.is_dir():
            for f in run.figures_dir.iterdir():
                if f.is_file():
                    figures[f.name] = f.read_bytes()
        return {"ok": failure is None, "error": failure, "notebook": nbformat.writes(nb),
                "metrics": run.metrics_file.read_text(encoding="utf-8") if run.metrics_file.exists() else "{}",
                "figures": figures, "cpu": max(0.0, cpu_seconds() - cpu0), "wall": time.monotonic() - t0,
                "provenance": provenance, "host": socket.gethostname()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack(result: dict[str, Any], run: RunDir) -> None:
    """Write a remote run's result into a local run folder (the client side of :func:`run_payload`)."""
    run.path.mkdir(parents=True, exist_ok=True)
    run.notebook.write_text(result["notebook"], encoding="utf-8")
    if not result["ok"]:
        run.error_file.write_text(result["error"] or "failed on the worker", encoding="utf-8")
        return
    run.metrics_file.write_text(result["metrics"], encoding="utf-8")
    if result["figures"]:
        run.figures_dir.mkdir(parents=True, exist_ok=True)
        for name, blob in result["figures"].items():
            if "/" in name or "\\" in name or name.startswith("."):
                continue
            (run.figures_dir / name).write_bytes(blob)
    (run.path / "provenance.json").write_text(json.dumps(result["provenance"], indent=2), encoding="utf-8")
    run.cpu_file.write_text(f"{result['cpu']:.2f}", encoding="utf-8")
