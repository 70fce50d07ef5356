"""The response cache: embedder, normalization, verifier, and the two-tier store."""

from .store import CacheConfig, Entry, Lookup, SemanticCache, VectorSetsMissing, scope_of

__all__ = ["CacheConfig", "Entry", "Lookup", "SemanticCache", "VectorSetsMissing", "scope_of"]
