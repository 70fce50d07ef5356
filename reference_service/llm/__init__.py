"""The upstream LLM: one client (the official openai SDK) and the mapping of its errors."""

from .client import Completion, Delta, UpstreamClient, build_openai_client

__all__ = ["Completion", "Delta", "UpstreamClient", "build_openai_client"]
