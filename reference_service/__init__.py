"""The reference LLM service of the lab: FastAPI, SSE streaming, health and graceful shutdown."""

from .app import create_app, services_of
from .config import Settings

__all__ = ["create_app", "services_of", "Settings"]
