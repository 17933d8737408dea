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


def without_root_override() -> None:
    """A subprocess `preexec_fn`: as root, drop the capabilities that let root read and enter
    what a normal user cannot (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so that the program it
    runs meets permissions as a normal user does. Linux only; nothing to do for a normal user."""
    import ctypes
    import os

    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
