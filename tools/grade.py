"""Grade the student's exercises/: run tests/exercises on them (--impl=exercises) and print,
for each check, "ok" or "FIX" with one line saying what was expected and what was seen, then
a total per exercise.

    python -m tools.grade                 # every exercise (make grade)
    python -m tools.grade 3               # one: 1 streaming_client, 2 cache_benchmark, 3 hardening

Exit status 0 when every check passes. The grader's own output (tracebacks) is not shown:
for the whole story of one check, run pytest on it, e.g.
`.venv/bin/python -m pytest tests/exercises/test_hardening.py --impl=exercises -k breaker`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = {
    "1": ("streaming_client", "Exercise 1: streaming client"),
    "2": ("cache_benchmark", "Exercise 2: cache benchmark"),
    "3": ("hardening", "Exercise 3: production hardening"),
}
WIDTH = 200


@dataclass
class Check:
    exercise: str
    name: str
    ok: bool
    why: str = ""


def one_line(report) -> str:
    """The first useful line of a failed report: the assertion's message or the error."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else "failed"
    if line.startswith("AssertionError: "):
        line = line[len("AssertionError: ") :]
    if line.startswith("NotImplementedError: "):
        line = "not done yet: " + line[len("NotImplementedError: ") :]
    if line.startswith("Failed: "):
        line = line[len("Failed: ") :]
    if len(line) <= WIDTH:
        return line
    # Keep both ends: a message says what was expected first and what was seen last, and
    # cutting only the end would drop the "got ..." the student needs.
    half = (WIDTH - 5) // 2
    return f"{line[:half]} ... {line[-half:]}"


def readable(nodeid: str) -> tuple[str, str]:
    """(exercise module, check name) from a test id."""
    path, _, test = nodeid.partition("::")
    module = Path(path).stem.removeprefix("test_")
    name, _, param = test.partition("[")
    name = name.removeprefix("test_").replace("_", " ")
    return module, name + (f" [{param.rstrip(']')}]" if param else "")


class Collector:
    """A pytest plugin: one Check per test, printed as soon as the test is done."""

    def __init__(self, out) -> None:
        self.out = out
        self.checks: dict[str, Check] = {}
        self.current: str | None = None

    def pytest_runtest_logreport(self, report) -> None:
        module, name = readable(report.nodeid)
        check = self.checks.get(report.nodeid)
        if check is None:
            check = self.checks[report.nodeid] = Check(module, name, True)
        if report.failed and check.ok:
            check.ok, check.why = False, one_line(report)
        if report.when == "teardown":
            self.show(check)

    def pytest_collectreport(self, report) -> None:
        if report.failed:  # a test file that does not even import
            module, _ = readable(report.nodeid or "collection")
            check = Check(module, "the grader could not load", False, one_line(report))
            self.checks[report.nodeid] = check
            self.show(check)

    def show(self, check: Check) -> None:
        if check.exercise != self.current:
            self.current = check.exercise
            title = next((t for m, t in EXERCISES.values() if m == check.exercise), check.exercise)
            print(f"\n{title}", file=self.out, flush=True)
        mark = "ok " if check.ok else "FIX"
        line = f"  {mark} {check.name}" + (f"\n        {check.why}" if not check.ok else "")
        print(line, file=self.out, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = [EXERCISES[a][0] if a in EXERCISES else a for a in argv]
    unknown = [c for c in chosen if c not in {m for m, _ in EXERCISES.values()}]
    if unknown:
        print(
            f"unknown exercise {unknown}: use 1, 2, 3 or "
            f"{', '.join(m for m, _ in EXERCISES.values())}",
            file=sys.stderr,
        )
        return 2
    if not (ROOT / "exercises").is_dir():
        print("no exercises/ yet: run `make exercises` first", file=sys.stderr)
        return 2
    modules = chosen or [m for m, _ in EXERCISES.values()]
    paths = [str(ROOT / "tests" / "exercises" / f"test_{m}.py") for m in modules]
    import pytest

    out = sys.stdout
    print(
        "grading exercises/ (a few minutes: the grader starts the fake LLM and the service)...",
        file=out,
        flush=True,
    )
    collector = Collector(out)
    os.chdir(ROOT)
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(
            [*paths, "--impl=exercises", "-p", "no:cacheprovider", "-q"], plugins=[collector]
        )
    checks = list(collector.checks.values())
    print("", file=out)
    for module, title in EXERCISES.values():
        mine = [c for c in checks if c.exercise == module]
        if mine:
            print(f"{title}: {sum(c.ok for c in mine)} of {len(mine)} checks pass", file=out)
    passed = sum(c.ok for c in checks)
    print(
        f"total: {passed} of {len(checks)} checks pass"
        + (
            ""
            if passed == len(checks)
            else ": each FIX line says what is expected; the exercise's README has the details "
            "(exercises/*/README.md)"
        ),
        file=out,
    )
    return 0 if checks and passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
