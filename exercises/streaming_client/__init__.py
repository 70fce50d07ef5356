# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.
"""Exercise 1: a command-line streaming chat client for the reference service."""

from .client import ChatError, ChatSession, TurnStats, parse_sse

__all__ = ["ChatError", "ChatSession", "TurnStats", "parse_sse"]
