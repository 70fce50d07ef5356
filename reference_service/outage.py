"""Say once that a dependency went away, and once that it came back, not per request."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class OutageLog:
    def __init__(self, what: str, meanwhile: str, dependency: str = "Redis") -> None:
        self.what = what  # e.g. "cache"
        self.meanwhile = meanwhile  # e.g. "requests bypass the cache"
        self.dependency = dependency
        self.down = False

    def failed(self) -> None:
        if not self.down:
            self.down = True
            log.warning("%s: %s unreachable; %s", self.what, self.dependency, self.meanwhile)

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            log.warning("%s: %s reachable again", self.what, self.dependency)
