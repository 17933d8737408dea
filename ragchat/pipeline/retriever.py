"""The search side of the pipeline: opens a collection's searcher on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragchat.config import Settings

Opener = Callable[[Any, str | None], Any]


def _open_searcher(settings: Settings, collection: str | None) -> Any:
    from ragchat.index.search import open_searcher

    return open_searcher(settings, collection)


class Retriever:
    """Hybrid search over one collection; switch collections or reload after an ingest."""

    def __init__(self, settings: Settings, collection: str | None = None,
                 opener: Opener | None = None) -> None:
        self.settings = settings
        self.collection = collection or settings.collection
        self._opener = opener or _open_searcher
        self._searcher: Any = None

    def open(self) -> None:
        """Open now (raises IndexMissingError with a hint when there is no index)."""
        if self._searcher is None:
            self._searcher = self._opener(self.settings, self.collection)

    def search(self, query: str, k: int) -> list[Any]:
        self.open()
        return list(self._searcher.search(query, k))

    @property
    def embedding_model(self) -> str:
        """The collection's embedding model ("" before the index is opened)."""
        return str(getattr(self._searcher, "model", "") or "")

    def use(self, collection: str) -> None:
        self.close()
        self.collection = collection

    def reload(self) -> None:
        """Forget the open searcher so that the next search sees a fresh index."""
        self.close()

    def close(self) -> None:
        if self._searcher is not None:
            searcher, self._searcher = self._searcher, None
            searcher.close()
