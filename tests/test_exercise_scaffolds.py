"""The exercise machinery: the scaffold generated from solutions/ (never from or over the
student's files), every grading test failing on a fresh scaffold for the right reason, and
exercise 3's mutation grader accepting the reference tests and rejecting a suite that misses
a broken app. (The solutions themselves are graded in the main run: --impl=solutions.)"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.exercises.hardening_mutants import MUTANTS
from tests.exercises.mutation import APPS, REFERENCE, run_suite
from tools import make_exercises
from tools.scratch_repo import scratch_repo
from tools.solution_markers import MarkerError, strip_solutions

ROOT = Path(__file__).parents[1]


def generate(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.make_exercises", "--out", str(root), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): p.read_text()
        for p in sorted(path.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_scaffold_is_generated_the_same_each_time_and_never_over_a_students_file(tmp_path):
    assert generate(tmp_path / "a").returncode == 0
    assert generate(tmp_path / "b").returncode == 0
    first = tree(tmp_path / "a" / "exercises")
    assert first == tree(tmp_path / "b" / "exercises")
    assert "hardening/app.py" in first and "hardening/test_app.py" in first
    assert not any("do not edit" in text.lower() for text in first.values()), (
        "the student edits these files: no 'do not edit' header"
    )
    assert not any("BEGIN SOLUTION" in t or "END SOLUTION" in t for t in first.values())

    mine = tmp_path / "a" / "exercises" / "hardening" / "app.py"
    mine.write_text("# my work\n")
    (tmp_path / "a" / "exercises" / "streaming_client" / "client.py").unlink()
    r = generate(tmp_path / "a")
    assert r.returncode == 0 and "1 file(s) written" in r.stdout, r.stdout + r.stderr
    assert mine.read_text() == "# my work\n", "a student's file was overwritten"
    assert (
        tree(tmp_path / "a" / "exercises")["streaming_client/client.py"]
        == first["streaming_client/client.py"]
    ), "a missing file is generated again"
    r = generate(tmp_path / "a", "--force")
    assert r.returncode == 0 and mine.read_text() == first["hardening/app.py"]


def test_readmes_are_refreshed_and_a_kept_file_whose_scaffold_changed_is_named(tmp_path):
    assert generate(tmp_path).returncode == 0
    ex = tmp_path / "exercises"
    readme, mine = ex / "hardening" / "README.md", ex / "hardening" / "app.py"
    current = readme.read_text()
    readme.write_text("an old README\n")
    mine.write_text("# my work\n")
    r = generate(tmp_path)
    assert readme.read_text() == current, "instructions are not the student's work"
    assert mine.read_text() == "# my work\n"
    assert "note:" not in r.stdout, "the scaffold has not changed: nothing to say"

    hashes = json.loads((ex / make_exercises.HASHES).read_text())
    hashes["hardening/app.py"] = "0" * 64  # as if written from an older scaffold
    (ex / make_exercises.HASHES).write_text(json.dumps(hashes))
    r = generate(tmp_path)
    assert mine.read_text() == "# my work\n"
    assert "note: the scaffold of" in r.stdout and "hardening/app.py" in r.stdout, r.stdout


def test_an_exercises_dir_made_before_hashes_were_kept_is_tracked_from_then_on(tmp_path):
    assert generate(tmp_path).returncode == 0
    ex = tmp_path / "exercises"
    (ex / make_exercises.HASHES).unlink()  # as the older tool left it
    (ex / "hardening" / "app.py").write_text("# my work\n")
    r = generate(tmp_path)
    assert "older version" in r.stdout, r.stdout
    hashes = json.loads((ex / make_exercises.HASHES).read_text())
    assert "streaming_client/client.py" in hashes, "an untouched file is tracked from now on"
    assert "hardening/app.py" not in hashes, "an edited file's origin cannot be known"
    assert "older version" not in generate(tmp_path).stdout, "said once"


def test_solution_regions_become_todos_at_their_indentation():
    text = (
        'def f(x):\n    y = 1\n    # BEGIN SOLUTION: double "x"\n    return 2 * x\n'
        "    # END SOLUTION\n\n\nclass C:\n    def m(self):\n"
        "        # BEGIN SOLUTION\n        pass\n        # END SOLUTION\n"
    )
    out, regions = strip_solutions(text, "t.py")
    assert regions == 2
    assert out == (
        "def f(x):\n    y = 1\n    raise NotImplementedError(\"TODO: double 'x'\")\n"
        "\n\nclass C:\n    def m(self):\n"
        '        raise NotImplementedError("TODO: implement this")\n'
    )


@pytest.mark.parametrize(
    "text, why",
    [
        ("# BEGIN SOLUTION: a\nx = 1\n", "never closed"),
        ("x = 1\n# END SOLUTION\n", "without a # BEGIN SOLUTION"),
        ("# BEGIN SOLUTION: a\n# BEGIN SOLUTION: b\n# END SOLUTION\n", "inside the region"),
        ("# BEGIN SOLUTON: a\nx = 1\n# END SOLUTION\n", None),  # a typo: END has no BEGIN
        ("#BEGIN SOLUTION: a\nx = 1\n#END SOLUTION\n", "looks like a solution marker"),
    ],
)
def test_bad_markers_are_a_clear_error(text, why):
    with pytest.raises(MarkerError) as e:
        strip_solutions(text, "bad.py")
    assert "bad.py, line " in str(e.value)
    if why:
        assert why in str(e.value)


def test_a_scaffold_that_is_not_python_is_refused(tmp_path):
    bad = tmp_path / "x.py"
    with pytest.raises(SyntaxError):
        make_exercises.scaffold_text(
            bad, "def f():\n# BEGIN SOLUTION: a\n    return 1\n# END SOLUTION\n    return 2\n"
        )


def write_filled_in_exercises(repo: Path, sentinel: Path) -> None:
    """A student's finished exercises/: the solutions' code, each module noting its import."""
    for rel, text in make_exercises.scaffold().items():
        target = repo / "exercises" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.suffix == ".py":
            text = (ROOT / "solutions" / rel).read_text().replace("solutions.", "exercises.")
            text = f"open({str(sentinel)!r}, 'a').write(__name__ + '\\n')\n" + text
        target.write_text(text)


@pytest.mark.slow
@pytest.mark.timeout(900)  # the whole grader, in a subprocess
def test_every_grading_test_fails_on_a_fresh_scaffold_and_the_students_files_are_never_read(
    tmp_path,
):
    # The student's checkout, with finished exercises that record any import of them.
    sentinel = tmp_path / "student-files-read.txt"
    student = scratch_repo(tmp_path / "student")
    write_filled_in_exercises(student, sentinel)
    # The check itself, as the suite runs it: a scratch copy with a fresh scaffold.
    fresh = scratch_repo(tmp_path / "fresh", root=student)
    assert generate(fresh).returncode == 0
    report = tmp_path / "grade.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/exercises",
            "--impl=exercises",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
        ],
        cwd=fresh,
        capture_output=True,
        text=True,
        timeout=900,
    )
    cases = list(ET.parse(report).getroot().iter("testcase"))
    assert len(cases) > 20, f"the grader collected only {len(cases)} tests"
    for case in cases:
        problems = case.findall("failure") + case.findall("error")
        name = case.get("name")
        assert problems, f"{name} passes on the untouched scaffold"
        text = " ".join((p.get("message") or "") + (p.text or "") for p in problems)
        assert "NotImplementedError" in text, f"{name} fails for another reason: {text[:400]}"
        assert "ModuleNotFoundError" not in text and "ImportError" not in text, name
    # Collecting the whole suite in the student's checkout does not import their files.
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=student,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert not sentinel.exists(), f"the suite read the student's files: {sentinel.read_text()}"


# -- exercise 3's mutation grader ------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    return run_suite(
        ROOT / "solutions" / "hardening" / "test_app.py",
        ROOT,
        tmp_path_factory.mktemp("mutation") / "ref.xml",
    )


@pytest.mark.slow
@pytest.mark.timeout(600)  # the reference suite against every app, in a subprocess
def test_the_reference_tests_pass_on_the_reference_and_catch_every_broken_app(reference_run):
    assert reference_run.problem is None, reference_run.problem
    assert set(reference_run.outcomes) == set(APPS), "every app ran"
    assert not reference_run.failing_on_reference(), reference_run.failing_on_reference()
    missed = [m for m in MUTANTS if not reference_run.catchers(m)]
    assert not missed, f"the reference tests miss {missed}"


@pytest.mark.slow
@pytest.mark.timeout(600)  # when run alone it runs reference_run
@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_a_suite_without_the_tests_that_catch_a_broken_app_is_rejected(reference_run, mutant):
    weaker = reference_run.without(set(reference_run.catchers(mutant)))
    assert not weaker.catchers(mutant)
    assert weaker.outcomes[REFERENCE], "the weaker suite still has tests"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_grader_rejects_a_real_suite_that_never_tests_an_error_response(tmp_path):
    """End to end: a student suite without its error-response test, run by the grader's own
    runner, lets the app that drops the id on errors through, and still catches the app that
    never echoes it."""
    source = (ROOT / "solutions" / "hardening" / "test_app.py").read_text()
    start = source.index("async def test_error_responses_carry_the_request_id_too")
    end = source.index("async def", start + 10)
    student = scratch_repo(tmp_path / "student")
    pkg = student / "exercises" / "hardening"
    pkg.mkdir(parents=True)
    for name in ("__init__.py", "app.py", "conftest.py"):
        (pkg / name).write_text(
            (ROOT / "solutions" / "hardening" / name)
            .read_text()
            .replace("solutions.", "exercises.")
        )
    (student / "exercises" / "__init__.py").write_text("")
    (pkg / "test_app.py").write_text(source[:start] + source[end:])
    apps = {
        k: APPS[k] for k in (REFERENCE, "request_id_missing_on_errors", "request_id_not_echoed")
    }
    run = run_suite(pkg / "test_app.py", student, tmp_path / "r.xml", apps=apps)
    assert run.problem is None and not run.failing_on_reference(), run
    assert "test_error_responses_carry_the_request_id_too" not in run.outcomes[REFERENCE]
    assert not run.catchers("request_id_missing_on_errors")
    assert run.catchers("request_id_not_echoed")
