"""The fake server's moderation classifier is the service's local one (the fake imports from
the service, never the other way round)."""

from reference_service.safety.local_moderation import CATEGORIES, FLAG_SCORE, RULES, classify

__all__ = ["CATEGORIES", "FLAG_SCORE", "RULES", "classify"]
