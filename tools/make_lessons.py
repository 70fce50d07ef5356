"""Write the student's lessons/ from the solved notebooks/: in each task cell, every
solution region becomes `raise NotImplementedError("TODO: <hint>")`; every output and
execution count is cleared.

    python -m tools.make_lessons              # write the lessons/ notebooks that are missing
    python -m tools.make_lessons --force      # overwrite them all (a student's work is lost)
    python -m tools.make_lessons --out DIR    # write DIR/lessons instead (the tests do this)
    python -m tools.make_lessons --check      # only check every notebook's tasks; write nothing

The convention (tools/README.md): a task is a markdown cell beginning "### Your turn", then
a code cell tagged `task` holding the solution between `# BEGIN SOLUTION: <hint>` and
`# END SOLUTION` lines, then a code cell tagged `check` that calls it and asserts. Markers
anywhere else, a task cell without a region, or a task without its heading or its check
cell are errors, so a lesson never ships with its answer in the student's copy.
lessons/ is not in git; `make lab` creates it on first use and never overwrites a file.
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .solution_markers import MarkerError, has_markers, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
HEADING = "### Your turn"
TASK, CHECK = "task", "check"


@dataclass(frozen=True)
class Task:
    """Where one task sits in a notebook (cell indexes, from 0)."""

    heading: int
    task: int
    check: int
    regions: int


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _where(name: str, index: int) -> str:
    return f"{name}, cell {index + 1}"


def _compiles(source: str) -> bool:
    """Does the cell parse as Python (top-level await allowed)? Cells with magics are
    taken on trust: they are not plain Python."""
    if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return True
    try:
        compile(source, "<cell>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return False
    return True


def find_tasks(nb, name: str) -> list[Task]:
    """The notebook's tasks, in order; MarkerError if it breaks the convention."""
    cells = nb.cells
    found: list[Task] = []
    for i, cell in enumerate(cells):
        cell_tags = tags(cell)
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith(HEADING):
            nxt = next((j for j in range(i + 1, len(cells)) if cells[j].cell_type == "code"), None)
            if nxt is None or TASK not in tags(cells[nxt]):
                raise MarkerError(
                    f"{_where(name, i)}: a '{HEADING}' heading must be followed "
                    f"by a code cell tagged '{TASK}'"
                )
        if cell.cell_type != "code":
            if TASK in cell_tags or CHECK in cell_tags:
                raise MarkerError(
                    f"{_where(name, i)}: only code cells can be tagged '{TASK}' or '{CHECK}'"
                )
            continue
        if TASK not in cell_tags:
            if has_markers(cell.source):
                raise MarkerError(
                    f"{_where(name, i)}: solution markers in a cell not tagged "
                    f"'{TASK}' (tag it, or the student would see the solution)"
                )
            if CHECK in cell_tags and not (found and found[-1].check == i):
                raise MarkerError(
                    f"{_where(name, i)}: a '{CHECK}' cell must come right after a '{TASK}' cell"
                )
            continue
        if CHECK in cell_tags:
            raise MarkerError(f"{_where(name, i)}: a cell cannot be both '{TASK}' and '{CHECK}'")
        _, regions = strip_solutions(cell.source, _where(name, i))
        if regions == 0:
            raise MarkerError(
                f"{_where(name, i)}: a '{TASK}' cell needs a region between "
                f"'# BEGIN SOLUTION: <hint>' and '# END SOLUTION'"
            )
        heading = next(
            (
                j
                for j in range(i - 1, -1, -1)
                if cells[j].cell_type == "markdown" and cells[j].source.lstrip().startswith(HEADING)
            ),
            None,
        )
        previous_code = next((j for j in range(i - 1, -1, -1) if cells[j].cell_type == "code"), -1)
        if heading is None or heading < previous_code:
            raise MarkerError(
                f"{_where(name, i)}: a '{TASK}' cell must come after a markdown "
                f"cell beginning '{HEADING}' (with no code cell in between)"
            )
        check = next((j for j in range(i + 1, len(cells)) if cells[j].cell_type == "code"), None)
        if check is None or CHECK not in tags(cells[check]):
            raise MarkerError(
                f"{_where(name, i)}: the next code cell after a '{TASK}' cell "
                f"must be tagged '{CHECK}' (it calls the task and asserts)"
            )
        found.append(Task(heading, i, check, regions))
    return found


def student_copy(nb, name: str):
    """The student's copy of a solved notebook (a new notebook; `nb` is not changed)."""
    find_tasks(nb, name)  # the convention holds, or MarkerError
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)  # the solver's timestamps
        if TASK in tags(cell):
            cell.source, _ = strip_solutions(cell.source, _where(name, i))
            if not _compiles(cell.source):
                raise MarkerError(
                    f"{_where(name, i)}: the student's version is not valid "
                    f"Python: is '# BEGIN SOLUTION' indented like the code "
                    f"it replaces?"
                )
    return out


def read(path: Path):
    return nbformat.read(path, as_version=4)


def notebooks(source: Path = ROOT / "notebooks") -> list[Path]:
    return sorted(source.glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.make_lessons",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite notebooks that exist (your work in them is lost)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT, help="write OUT/lessons (default: the repository)"
    )
    parser.add_argument(
        "--check", action="store_true", help="check the tasks of every notebook; write nothing"
    )
    args = parser.parse_args(argv)
    dest = args.out / "lessons"
    written, kept, tasks = 0, 0, 0
    try:
        copies = {}
        for path in notebooks():
            nb = read(path)
            tasks += len(find_tasks(nb, path.name))
            copies[path.name] = (nb, student_copy(nb, path.name))
    except MarkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(copies)} notebooks, {tasks} tasks: the convention holds")
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    for name, (_, student) in copies.items():
        target = dest / name
        if target.exists() and not args.force:
            kept += 1
            continue
        nbformat.write(student, target)
        written += 1
    where = dest if args.out != ROOT else Path("lessons")
    print(
        f"{where}/: {written} notebook(s) written, {kept} kept as they were"
        + (" (--force regenerates them)" if kept else "")
        + f"; {tasks} tasks in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
