"""The student's lessons: tools/make_lessons.py turns each solved notebook's tasks into TODOs,
and every student copy, generated fresh (never the student's lessons/), runs up to its first
task and stops at the check cell after it, with NotImplementedError.

The copies run in a scratch copy of the repository (tools/scratch_repo.py) as lessons/*.ipynb,
where `make lab` puts them, so relative paths (../data/, ../docs/) resolve as they will for
the student."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from tools import make_lessons
from tools.make_lessons import find_tasks, student_copy
from tools.scratch_repo import scratch_repo
from tools.solution_markers import MarkerError

ROOT = Path(__file__).parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "99_lesson_tasks.ipynb"
NOTEBOOKS = make_lessons.notebooks()
WITH_TASKS = [p for p in NOTEBOOKS if find_tasks(make_lessons.read(p), p.name)]
LESSONS = [f"{n:02d}_" for n in range(1, 8)]  # 01..07 each need a task


def fixture():
    return make_lessons.read(FIXTURE)


def code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def run_until_error(path: Path) -> tuple[int, str, str] | None:
    """Execute the notebook at `path` cell by cell in a fresh kernel (cwd: its directory)
    until a cell raises: (cell index, exception name, its message), or None if none did."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as exc:
                return i, exc.ename, exc.evalue
    return None


def generate_into_scratch(tmp_path: Path, source: Path) -> Path:
    repo = scratch_repo(tmp_path / "repo")
    lessons = repo / "lessons"
    lessons.mkdir()
    target = lessons / source.name
    nbformat.write(student_copy(make_lessons.read(source), source.name), target)
    return target


def assert_stops_at_its_first_check(path: Path, tasks) -> None:
    first = tasks[0]
    stop = run_until_error(path)
    assert stop is not None, (
        f"{path.name}: the student's copy ran to the end without an "
        f"error: its check cell cannot fail"
    )
    index, ename, evalue = stop
    assert index == first.check, (
        f"{path.name}: the first error should be in cell {first.check + 1} (the check after "
        f"the first task, cell {first.task + 1}); it was in cell {index + 1}: {ename}: {evalue}"
        + (
            " (the copy runs from lessons/, not notebooks/: find the repository as "
            "Path.cwd().parent)"
            if ename in ("FileNotFoundError", "ModuleNotFoundError")
            else ""
        )
    )
    assert ename == "NotImplementedError", (
        f"{path.name}: the check cell should fail with the task's NotImplementedError; "
        f"got {ename}: {evalue}"
    )


# -- the generator, on the fixture ---------------------------------------------------------------


def test_the_fixture_has_two_tasks_with_their_regions():
    tasks = find_tasks(fixture(), FIXTURE.name)
    assert [(t.heading, t.task, t.check, t.regions) for t in tasks] == [(2, 3, 4, 1), (6, 7, 8, 2)]


def test_the_student_copy_has_todos_at_the_regions_indentation_and_no_outputs():
    solved = fixture()
    student = student_copy(solved, FIXTURE.name)
    assert student.cells[3].source == (
        'def circle_area(r):\n    """The area of a circle of radius r."""\n'
        '    raise NotImplementedError("TODO: return pi times r squared")\n'
    )
    assert student.cells[7].source == (
        "class Backoff:\n    def __init__(self, base):\n        self.base = base\n\n"
        "    def delay(self, attempt):\n"
        '        raise NotImplementedError("TODO: base times 2 to the power attempt")\n\n'
        "    def schedule(self, n):\n"
        '        raise NotImplementedError("TODO: the first n delays")\n'
    )
    for i, (a, b) in enumerate(zip(solved.cells, student.cells, strict=True)):
        if i not in (3, 7):
            assert a.source == b.source, f"cell {i + 1} without markers changed"
        assert a.get("metadata", {}).get("tags") == b.get("metadata", {}).get("tags")
    assert all(
        c.outputs == [] and c.execution_count is None and "execution" not in c.metadata
        for c in code(student)
    )
    assert any(c.outputs for c in code(solved)), "the solved notebook is left as it was"


def broken(change):
    nb = copy.deepcopy(fixture())
    change(nb.cells)
    return nb


def set_tags(cell, tags):
    cell.metadata["tags"] = tags


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: (
                set_tags(c[5], [])
                or c[5].update(source=c[5].source + "\n# BEGIN SOLUTION: x\npass\n# END SOLUTION")
            ),
            "solution markers in a cell not tagged 'task'",
        ),
        (
            lambda c: c[3].update(source="def circle_area(r):\n    return 1"),
            "a 'task' cell needs a region",
        ),
        (lambda c: c[2].update(source="## Now you"), "must come after a markdown cell beginning"),
        (lambda c: set_tags(c[4], []), "must be tagged 'check'"),
        (lambda c: set_tags(c[5], ["check"]), "must come right after a 'task' cell"),
        (
            lambda c: c[3].update(source=c[3].source.replace("    # END SOLUTION", "")),
            "never closed",
        ),
        (
            lambda c: c[3].update(source=c[3].source.replace("# END SOLUTION", "# END SOLUTIONS")),
            "looks like a solution marker",
        ),
        (lambda c: set_tags(c[0], ["task"]), "only code cells can be tagged"),
        (lambda c: set_tags(c[3], ["task", "check"]), "cannot be both"),
        (
            lambda c: c.insert(5, nbformat.v4.new_markdown_cell("### Your turn: nothing")),
            "must be followed by a code cell tagged 'task'",
        ),
        (
            lambda c: c[3].update(
                source="def circle_area(r):\n# BEGIN SOLUTION: x\n    return 1\n# END SOLUTION"
            ),
            "not valid Python",
        ),
    ],
)
def test_a_broken_convention_is_a_clear_error(change, message):
    with pytest.raises(MarkerError) as e:
        student_copy(broken(change), "99_x.ipynb")
    assert message in str(e.value) and "99_x.ipynb, cell " in str(e.value), str(e.value)


def test_make_lessons_writes_what_is_missing_and_keeps_a_students_work(tmp_path, capsys):
    assert make_lessons.main(["--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in (tmp_path / "lessons").glob("*.ipynb"))
    assert written == [p.name for p in NOTEBOOKS]
    mine = tmp_path / "lessons" / NOTEBOOKS[0].name
    mine.write_text("my work")
    assert make_lessons.main(["--out", str(tmp_path)]) == 0
    assert mine.read_text() == "my work", "a student's notebook was overwritten"
    assert "kept" in capsys.readouterr().out
    assert make_lessons.main(["--out", str(tmp_path), "--force"]) == 0
    assert nbformat.read(mine, as_version=4).cells, "--force regenerates it"
    for path in (tmp_path / "lessons").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.outputs and c.execution_count is None for c in code(nb)), path.name


def test_every_notebook_follows_the_task_convention():
    assert make_lessons.main(["--check"]) == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_runner_stops_the_fixture_at_its_first_check(tmp_path):
    path = generate_into_scratch(tmp_path, FIXTURE)
    assert_stops_at_its_first_check(path, find_tasks(fixture(), FIXTURE.name))


# -- the lessons -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)  # a whole lesson up to its first check, in a kernel
@pytest.mark.parametrize("source", WITH_TASKS, ids=[p.name for p in WITH_TASKS])
def test_the_student_copy_stops_at_its_first_check_with_not_implemented(tmp_path, source):
    path = generate_into_scratch(tmp_path, source)
    assert_stops_at_its_first_check(path, find_tasks(make_lessons.read(source), source.name))


def test_every_lesson_01_to_07_has_a_task():
    missing = [
        prefix for prefix in LESSONS if not any(p.name.startswith(prefix) for p in WITH_TASKS)
    ]
    assert not missing, (
        f"lessons without a 'Your turn' task: {missing} (the convention: tools/README.md)"
    )
