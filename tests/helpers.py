"""Helpers that tests in several folders share."""

from __future__ import annotations

import pytest

from ragchat.cli.main import main


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `ragchat ARGS` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err
