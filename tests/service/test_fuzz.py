"""Schemathesis against the service's own OpenAPI spec: generated requests (valid and
invalid, every phase: examples, coverage, fuzzing) for every operation, against the service
running in this process on the fake LLM. No 500s, and every response matches the spec
(status codes, content types, bodies, Allow on 405). Findings it made, all fixed: the 405
lost its Allow header, error statuses were undocumented, the spec did not state the
deployment's limits (models, sizes), lax parsing accepted "0.5" as a temperature, and a
max_tokens over the limit passed when max_completion_tokens was set.

Schemathesis' own CLI, in a subprocess (its pytest plugin does not run on this pytest);
`schemathesis.toml` at the repository root says why 413 counts as a rejection."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mock_llm.server import ThreadedServer
from reference_service.app import create_app
from reference_service.clock import FakeClock
from tests.support import make_settings

pytestmark = pytest.mark.load

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.timeout(600)
def test_api_conforms_to_its_spec(mock_server):
    app = create_app(
        make_settings(
            openai_base_url=mock_server.base_url, safety_guards=True, admin_token="fuzz-admin"
        ),
        clock=FakeClock(),
    )
    with ThreadedServer(app) as server:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--no-color",
                "run",
                server.url + "/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--seed",
                "20261127",
                "--header",
                "Authorization: Bearer fuzz-admin",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=540,
            cwd=Path(__file__).parents[2],
        )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    tested = re.search(r"Tested: (\d+)", out)
    cases = re.search(r"(\d+) generated, (\d+) passed", out)
    assert tested and int(tested.group(1)) >= 16, out[-3000:]  # every operation
    assert cases and int(cases.group(1)) >= 500 and cases.group(1) == cases.group(2), out[-3000:]
