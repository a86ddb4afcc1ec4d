"""The helpers notebooks call: record, savefig, show_animation, and the run folder they write into."""
import json

import numpy as np
import pytest

import paperclub
from paperclub.rundir import ENV, RunDir


@pytest.fixture
def run(tmp_path, monkeypatch) -> RunDir:
    monkeypatch.setenv(ENV, str(tmp_path / "run"))
    return RunDir(tmp_path / "run")


def test_record_writes_plain_json(run):
    paperclub.record("acc", np.float32(0.5))
    paperclub.record("n", np.int64(3))
    paperclub.record("ok", True)
    assert json.loads(run.metrics_file.read_text()) == {"acc": 0.5, "n": 3, "ok": True}
    assert run.read_metrics() == {"acc": 0.5, "n": 3, "ok": True}


def test_record_without_build_only_prints(monkeypatch, capsys):
    monkeypatch.delenv(ENV, raising=False)
    assert paperclub.record("x", 1.2345678) == 1.2345678
    out = capsys.readouterr().out
    assert "x = 1.235" in out and "1.2345678" not in out  # a figure, formatted, not a float repr


@pytest.mark.parametrize("name,value,match", [
    ("bad name", 1, "identifier"), ("x", np.ones(3), "scalar"), ("x", float("nan"), "finite"),
    ("x", [1], "number or a bool"), ("x", "0.01", "number or a bool, got str '0.01'"), ("x", None, "NoneType"),
])
def test_record_rejects_bad_input(run, name, value, match):
    with pytest.raises(ValueError, match=match):
        paperclub.record(name, value)
    assert not run.metrics_file.exists()


def test_recording_a_name_twice_is_an_error(run):
    paperclub.record("acc", 0.5)
    with pytest.raises(ValueError, match=r"record\('acc'\): already recorded in this run \(value 0.5\)"):
        paperclub.record("acc", 0.9)
    assert run.read_metrics() == {"acc": 0.5}  # the first value is kept


def test_savefig_and_animation_keep_order(run):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    paperclub.savefig(fig, "second-name")
    frames = [np.full((8, 8, 3), i * 20, dtype=np.uint8) for i in range(5)]
    data = paperclub.show_animation(frames, "anim")
    assert data[:6] in (b"GIF89a", b"GIF87a")
    assert run.order_file.read_text().split() == ["second-name.png", "anim.gif"]
    assert [p.name for p in run.figures()] == ["second-name.png", "anim.gif"]
    with pytest.raises(ValueError, match="figure name"):
        paperclub.savefig(fig, "Bad Name")
