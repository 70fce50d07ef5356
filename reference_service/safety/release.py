"""How a streamed answer is let out to the client: placeholders restored, and on a guarded
call, the answer moderated every `window` characters.

Two modes (SAFETY_STREAM_MODE), because moderating a stream is a trade-off:
- hold: a window is released only after moderation has passed all the text so far. No
  flagged text is ever sent, but tokens arrive in bursts of a window, the first one a
  moderation call after the window filled.
- release: tokens go out as the upstream sends them; moderation checks the text so far at
  every window boundary and once at the end. The first token is not delayed, but a flagged
  answer is only cut at the next check: up to a window of it may have been sent.
Unguarded calls (window 0) only restore placeholders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from ..errors import OutputFlagged
from .pii import Placeholders, StreamRestorer

Moderate = Callable[[str], Awaitable[list[str]]]  # text so far -> flagged categories


class StreamRelease:
    """Feed it the upstream's deltas; send what it returns."""

    def __init__(
        self,
        placeholders: Placeholders,
        moderate: Moderate | None,
        window: int,
        mode: Literal["hold", "release"] = "hold",
    ) -> None:
        self._restorer = StreamRestorer(placeholders)
        self._moderate = moderate if window > 0 else None
        self._window = window
        self._mode = mode
        self._parts: list[str] = []
        self._unchecked = ""  # generated since the last moderation check
        self.sent = 0  # characters sent to the client so far
        self.refused = False  # flagged before anything was sent: the answer is a refusal

    @property
    def generated(self) -> str:
        """Everything the upstream sent (placeholders not restored: the cache's form)."""
        return "".join(self._parts)

    async def feed(self, text: str) -> str:
        """What to send now for one more delta ("" while held back)."""
        self._parts.append(text)
        self._unchecked += text
        if self._moderate is None:
            return self._out(self._restorer.feed(text))
        if self._mode == "release":
            piece = self._restorer.feed(text)
            # checked before it goes out: a flagged check stops it (and counts it unsent)
            if len(self._unchecked) >= self._window and not await self._check(self._moderate):
                return ""
            return self._out(piece)
        if len(self._unchecked) < self._window:
            return ""
        held = self._unchecked
        if not await self._check(self._moderate):
            return ""  # refused: nothing of it goes out
        return self._out(self._restorer.feed(held))

    async def finish(self, refusal: str) -> str:
        """The rest to send once the upstream is done (or `refusal`, if refused)."""
        held = self._unchecked if self._mode == "hold" and self._moderate else ""
        if not self.refused and self._unchecked and self._moderate is not None:
            await self._check(self._moderate)
        if self.refused:
            return self._out(refusal)
        return self._out(self._restorer.feed(held) + self._restorer.flush())

    async def _check(self, moderate: Moderate) -> bool:
        """Moderate all the text so far. False: refused before anything went out. Raises
        OutputFlagged when flagged after text was sent (a final `error` event)."""
        self._unchecked = ""
        flagged = await moderate(self.generated)
        if not flagged:
            return True
        if self.sent == 0:
            self.refused = True
            return False
        unsent = (
            "; the flagged part was not sent"
            if self._mode == "hold"
            else "; some of it may have been sent before the check"
        )
        raise OutputFlagged(
            f"Moderation stopped the answer ({', '.join(flagged)}) after "
            f"{self.sent} characters{unsent}.",
            details={"categories": flagged, "characters_sent": self.sent},
        )

    def _out(self, text: str) -> str:
        self.sent += len(text)
        return text
