"""`ragchat ARGS` in a real process, answered by the tests' fake chat model and searcher
(for tests about the process itself: exit codes, pipes)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS.parent)]


def install_fakes(folder: str) -> None:
    from pipeline.conftest import REPLIES
    from pipeline.fakes import FakeSearcher, TaskFakeChatModel, make_hits

    import ragchat.pipeline.factory as factory
    import ragchat.pipeline.retriever as retriever
    from cli_ask.conftest import FakeChoice

    llm = TaskFakeChatModel(replies=dict(REPLIES), calls=[])
    llm.replies["ANSWER"] = "".join(f"Line {i} of the answer [1].\n" for i in range(300))
    searcher = FakeSearcher(make_hits(folder))
    factory.load_chat_model = lambda settings: (llm, FakeChoice())  # type: ignore[assignment]
    retriever._open_searcher = lambda settings, name: searcher  # type: ignore[assignment]


if __name__ == "__main__":
    install_fakes(str(Path.cwd() / "docs"))
    from ragchat.cli.main import main

    main(sys.argv[1:])
