"""Say once that a dependency went away, and once that it came back, not per request."""

from __future__ import annotations

import logging

log = logging.getLogger("reference_service")


class OutageLog:
    def __init__(self, what: str, meanwhile: str) -> None:
        self.what = what  # e.g. "cache"
        self.meanwhile = meanwhile  # e.g. "requests bypass the cache"
        self.down = False

    def failed(self) -> None:
        if not self.down:
            self.down = True
            log.warning("%s: Redis unreachable; %s", self.what, self.meanwhile)

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            log.warning("%s: Redis reachable again", self.what)
