"""The reference LLM service of the lab: FastAPI, SSE streaming, health and graceful shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app, services_of
    from .config import Settings

__all__ = ["Settings", "create_app", "services_of"]


def __getattr__(name: str) -> Any:
    # Imported on first use (PEP 562), so importing one light module of the package
    # (mock_llm uses reference_service.tokens) does not load the whole app: FastAPI,
    # the openai SDK, Redis clients.
    if name in ("create_app", "services_of"):
        from . import app

        return getattr(app, name)
    if name == "Settings":
        from .config import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
