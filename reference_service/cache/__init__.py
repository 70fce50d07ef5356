"""The response cache: embedder, normalization, verifier, and the two-tier store."""

from ..errors import VectorSetsMissing  # its home; re-exported where the cache was
from .store import CacheConfig, Entry, Lookup, SemanticCache, scope_of

__all__ = ["CacheConfig", "Entry", "Lookup", "SemanticCache", "VectorSetsMissing", "scope_of"]
