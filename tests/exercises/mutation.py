"""Grade a student's test suite by mutation: run it against the reference app and against
each broken app (hardening_mutants), and say which broken apps it catches.

A broken app is caught when at least one test that passes on the reference app fails on
it. A test that fails on the reference too proves nothing (it would "catch" everything).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tests.exercises.hardening_mutants import MUTANTS

REFERENCE = "reference"
APPS = {REFERENCE: "solutions.hardening.app:create_app",
        **{name: f"tests.exercises.hardening_mutants:{name}" for name in MUTANTS}}
_CASE = re.compile(r"^(?P<test>[^\[]+)\[(?P<app>[^\]]+)\]$")


@dataclass
class SuiteRun:
    """outcomes[app][test] = None if the test passed, else the first line of its failure."""

    outcomes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    problem: str | None = None  # the suite could not be run (collection error, no tests)

    def failing_on_reference(self) -> dict[str, str]:
        return {t: why for t, why in self.outcomes.get(REFERENCE, {}).items() if why}

    def catchers(self, mutant: str) -> list[str]:
        """The tests that pass on the reference app and fail on `mutant`."""
        ref = self.outcomes.get(REFERENCE, {})
        return sorted(t for t, why in self.outcomes.get(mutant, {}).items()
                      if why and t in ref and ref[t] is None)

    def without(self, tests: set[str]) -> "SuiteRun":
        """The run a suite without `tests` would have given (tests are independent)."""
        return SuiteRun({app: {t: why for t, why in cases.items() if t not in tests}
                         for app, cases in self.outcomes.items()}, self.problem)


def _first_line(node) -> str:
    text = (node.get("message") or node.text or "").strip()
    return text.splitlines()[0] if text else node.tag


def run_suite(test_path: Path, root: Path, report: Path, apps: dict[str, str] = APPS,
              timeout_s: int = 60, extra_args: tuple[str, ...] = ()) -> SuiteRun:
    """Run the tests at `test_path` once per app (in one pytest process, cwd `root`)."""
    env = {**os.environ, "HARDENING_APPS": ",".join(f"{k}={v}" for k, v in apps.items())}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_path), "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", f"--timeout={timeout_s}", *extra_args],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    if not report.exists():
        return SuiteRun(problem=f"pytest did not run: {(proc.stdout + proc.stderr)[-600:]}")
    run = SuiteRun()
    for case in ET.parse(report).getroot().iter("testcase"):
        problems = case.findall("failure") + case.findall("error")
        m = _CASE.match(case.get("name", ""))
        if not m:  # a collection error: the module itself failed
            if problems:
                run.problem = f"{case.get('classname')}: {_first_line(problems[0])}"
            continue
        if case.findall("skipped") and not problems:
            outcome = "skipped"
        else:
            outcome = _first_line(problems[0]) if problems else None
        run.outcomes.setdefault(m["app"], {})[m["test"]] = outcome
    if not run.outcomes and run.problem is None:
        run.problem = f"no tests were collected from {test_path.name}"
    return run
