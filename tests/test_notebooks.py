"""The notebooks are committed executed, in order, and each is in the README's lesson table.
(Their outputs are checked by nbval: `make test` runs it on notebooks/.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_slug.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_executed_top_to_bottom_with_outputs(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: run it top to bottom in a fresh kernel"
    )
    assert any(c.get("outputs") for c in code), f"{path.name}: outputs were not committed"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_listed_in_the_readme_lesson_table(path):
    readme = (ROOT / "README.md").read_text()
    row = next(
        (
            line
            for line in readme.splitlines()
            if line.startswith("|") and f"notebooks/{path.name}" in line
        ),
        None,
    )
    assert row is not None, f"{path.name} is not in README.md's lesson table"
    assert "(planned)" not in row, f"{path.name} exists but the README calls it planned"
