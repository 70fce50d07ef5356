"""What `python -m reference_service` tells uvicorn (reference_service/__main__.py)."""

from __future__ import annotations

import sys

import uvicorn

from reference_service.__main__ import main


def run_main(monkeypatch) -> dict:
    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(sys, "argv", ["reference_service"])
    monkeypatch.setenv("WORKERS", "1")  # more would make a metrics directory
    main()
    return seen


def test_idle_connections_outlive_the_clients_own_idle_timeouts(monkeypatch):
    """uvicorn's 5 s default closed idle connections before aiohttp's (15 s) or a load
    balancer's (60 s) did: a request sent just then failed at the client."""
    monkeypatch.delenv("KEEP_ALIVE_S", raising=False)
    assert run_main(monkeypatch)["timeout_keep_alive"] == 75
    monkeypatch.setenv("KEEP_ALIVE_S", "20")
    assert run_main(monkeypatch)["timeout_keep_alive"] == 20
