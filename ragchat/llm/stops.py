"""Stop strings over a stream: hold back text that may be the start of a stop string."""

from __future__ import annotations

from collections.abc import Sequence


class StopFilter:
    """Feed streamed pieces; get back the text that is safe to show.

    When a stop string appears, everything from it on is dropped and `stopped` turns True.
    A tail that could still grow into a stop string is held until it cannot.
    """

    def __init__(self, stops: Sequence[str] = ()) -> None:
        self.stops = [s for s in stops if s]
        self.held = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        if not self.stops:
            return piece
        text = self.held + piece
        hits = [i for i in (text.find(s) for s in self.stops) if i != -1]
        if hits:
            self.stopped = True
            self.held = ""
            return text[: min(hits)]
        keep = self._partial_tail(text)
        self.held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """The held tail, once the stream ended without completing a stop string."""
        out, self.held = ("" if self.stopped else self.held), ""
        return out

    def _partial_tail(self, text: str) -> int:
        best = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), best, -1):
                if stop.startswith(text[-size:]):
                    best = size
                    break
        return best
