"""Every notebook runs top to bottom (quick mode). Notebooks 02 and 04 are committed with the
outputs of a full run (a reader sees the results without running them), the others without."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lstm_probe.checkpoint import packaged_checkpoint

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
WITH_OUTPUTS = {"02_memory_dynamics", "04_interventions"}


def _outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, tmp_path):
    if not packaged_checkpoint().exists():
        pytest.fail("the demo checkpoint is missing from lstm_probe/assets")
    nb = nbformat.read(path, as_version=4)
    stored = _outputs(nb)
    if path.stem in WITH_OUTPUTS:  # committed results: complete and without errors
        codes = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in codes), "commit a complete run"
        assert not [o for o in stored if o.get("output_type") == "error"]
    else:
        assert not stored, "strip outputs"
    monkeypatch.setenv("LSTM_PROBE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the dumps a notebook makes stay with the test
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {
        "01_quickstart",
        "02_memory_dynamics",
        "03_benchmark_tables",
    }
    assert os.path.isdir(NOTEBOOKS[0].parent)
