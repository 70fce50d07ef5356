"""exercises/ is generated from solutions/ and up to date, and every grading test fails on
the untouched scaffolds for the right reason: NotImplementedError, not an import error and
not a pass. (The solutions themselves are graded in the main run: --impl=solutions.)"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_exercises_are_generated_and_up_to_date():
    r = subprocess.run([sys.executable, "-m", "tools.make_exercises", "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_grading_test_fails_on_the_scaffolds_with_not_implemented(tmp_path):
    report = tmp_path / "grade.xml"
    subprocess.run([sys.executable, "-m", "pytest", "tests/exercises", "--impl=exercises",
                    "-p", "no:cacheprovider", "-q", f"--junitxml={report}"],
                   cwd=ROOT, capture_output=True, text=True, timeout=600)
    cases = list(ET.parse(report).getroot().iter("testcase"))
    assert cases, "the grader collected no tests"
    for case in cases:
        problems = case.findall("failure") + case.findall("error")
        name = case.get("name")
        assert problems, f"{name} passes on the untouched scaffold"
        text = " ".join((p.get("message") or "") + (p.text or "") for p in problems)
        assert "NotImplementedError" in text, f"{name} fails for another reason: {text[:300]}"
        assert "ModuleNotFoundError" not in text and "ImportError" not in text, name
