"""Upstream profiles: the fake server answering as OpenAI's API, vLLM, Ollama or llama.cpp's
server. Each module cites the source code and issues it follows.

    MockConfig(profile="ollama")          python -m mock_llm --profile vllm
    MOCK_PROFILE=llamacpp                 PUT /_mock/config {"profile": "openai"}
"""

from __future__ import annotations

from .base import Completion, Frame, Problem, UpstreamProfile
from .llamacpp import LlamaCppProfile
from .ollama import OllamaProfile
from .openai import OpenAIProfile
from .vllm import VLLMProfile

PROFILES: dict[str, UpstreamProfile] = {
    p.name: p for p in (OpenAIProfile(), VLLMProfile(), OllamaProfile(), LlamaCppProfile())
}
DEFAULT_PROFILE = "openai"


def get_profile(name: str) -> UpstreamProfile:
    """The profile called `name`; ValueError naming the choices for anything else."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}") from None


__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "Completion",
    "Frame",
    "LlamaCppProfile",
    "OllamaProfile",
    "OpenAIProfile",
    "Problem",
    "UpstreamProfile",
    "VLLMProfile",
    "get_profile",
]
