"""Grading fixtures: `--impl=solutions|exercises` picks the package under test."""

from __future__ import annotations

import importlib

import pytest


@pytest.fixture(scope="session")
def impl(request) -> str:
    return request.config.getoption("--impl")


@pytest.fixture(scope="session")
def streaming_client(impl):
    return importlib.import_module(f"{impl}.streaming_client")
