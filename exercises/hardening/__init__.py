# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.
"""Exercise 3: harden the lecture's /chat: request ids, a timeout, a circuit breaker."""

from .app import CircuitBreaker, ManualClock, create_app

__all__ = ["CircuitBreaker", "ManualClock", "create_app"]
