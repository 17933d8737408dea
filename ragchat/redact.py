"""Credentials out of what is shown: `http://user:secret@host/v1` is shown as
`http://user:***@host/v1`, `?api_key=secret` as `?api_key=***`.

A URL given to `--api-base` may carry a password or a key; ragchat still sends it to the
server, but never prints or logs it: every error message (errors.py), the backend's label
in answers and `--json`, and `doctor`'s settings pass through `redact`.
"""

from __future__ import annotations

import re

# scheme://user:password@ or scheme://token@ (linear: no nested quantifiers)
USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,20}://)(?P<user>[^/@\s:?#]*)"
                      r"(?P<password>:[^/@\s?#]*)?@")
SECRET_PARAMETER = re.compile(r"(?P<name>[?&](?:api[_-]?key|key|token|access[_-]?token|"
                              r"password|secret|sig|signature)=)[^&#\s]+", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***`."""
    if "://" not in text and "=" not in text:
        return text
    text = USERINFO.sub(_userinfo, text)
    return SECRET_PARAMETER.sub(lambda m: m.group("name") + "***", text)


def _userinfo(match: re.Match) -> str:
    user = match.group("user") if match.group("password") else ""  # a lone name is a token
    return f"{match.group('scheme')}{user + ':' if user else ''}***@"
