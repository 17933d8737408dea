"""Sphinx and MyST markup out of Markdown and reST blocks, before they are chunked.

Documentation folders are written for a builder: `(label)=` and `.. _label:` anchors,
directives (`.. toctree::`, ```` ```{note} ````), their `:option:` lines, and roles
(`{ref}`Caching <caching>``, `:pep:`440``). Left in, a chunk whose whole text is `(fragments)=`
becomes the nearest neighbour of a question about fragments, and `{ref}` leaks into snippets
and answers. Here roles become the text a reader of the built page sees, anchors and
directive lines go, navigation directives (toctree, contents, include) go with their bodies,
and a block with no words left is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# {role}`text <target>` (MyST) and :role:`text <target>` or :domain:role:`...` (reST)
ROLE = re.compile(r"(?:\{(?P<myst>[A-Za-z][\w:.+-]*)\}|(?<![\w`]):(?P<rst>[A-Za-z][\w.+-]*"
                  r"(?::[A-Za-z][\w.+-]*)?):)`(?P<body>[^`]+)`")
RST_LINK = re.compile(r"`(?P<text>[^`<]+?)\s*<[^`>]+>`__?")  # `text <https://...>`_
RST_REF = re.compile(r"(?<![\w`:}])`(?P<text>[^`<>]+)`_{1,2}(?!\w)")  # `label`_
LABEL = re.compile(r"^\s*(?:\([\w.:/-]+\)=|\.\. _[^:]+:|\.\. _`[^`]+`:)\s*$")
RST_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?:\|[^|]+\| )?(?P<name>[\w:.-]+)::\s*(?P<arg>.*)$")
MYST_DIRECTIVE = re.compile(r"^(?P<indent>\s*)(?:`{3,}|~{3,}|:{3,})\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*)$")
FENCE_CLOSE = re.compile(r"^\s*(?:`{3,}|~{3,}|:{3,})\s*$")
OPTION = re.compile(r"^\s*:[\w .-]+:(?:\s.*)?$")
LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+(?:\s+\"[^\"]*\")?\s*$")  # [id]: url
FRONT_MATTER = re.compile(r"^(?:---|\+\+\+)\n.*\n(?:---|\+\+\+)$", re.S)
WORD = re.compile(r"[^\W\d_]{2,}")

# directives whose body is navigation or an inclusion, not prose: dropped whole
NAVIGATION = {"toctree", "contents", "include", "literalinclude", "autosummary", "raw",
              "meta", "highlight", "currentmodule", "module", "only", "tabularcolumns",
              "image", "figure", "sectnum", "index"}
# directives whose argument is text a reader sees, and how the built page shows it
SHOWN = {"versionadded": "New in version {}.", "versionchanged": "Changed in version {}.",
         "deprecated": "Deprecated since version {}.", "rubric": "{}", "topic": "{}",
         "admonition": "{}", "seealso": "See also: {}", "card": "{}", "dropdown": "{}",
         "tab": "{}:", "tab-item": "{}:"}


def visible_text(text: str) -> str:
    """Roles and reST links replaced by what the built page shows."""
    text = ROLE.sub(_role_text, text)
    text = RST_LINK.sub(lambda m: m.group("text"), text)
    return RST_REF.sub(lambda m: m.group("text"), text)


def _role_text(match: re.Match) -> str:
    role = (match.group("myst") or match.group("rst") or "").split(":")[-1]
    body = match.group("body").strip()
    shown = re.match(r"^(.*?)\s*<[^<>]+>$", body, re.S)
    body = (shown.group(1) if shown and shown.group(1) else body).lstrip("~!")
    if role in ("pep", "rfc"):
        return f"{role.upper()} {body}"
    return body


def clean_block(text: str) -> str | None:
    """A block's text without anchors, directive lines and roles; None when nothing a
    reader would call content is left (a tab's title alone is not content)."""
    lines = []
    after_directive = content = False
    text = without_html_comments(text)
    in_directive_block = _has_directive(text)
    for line in text.split("\n"):
        directive = RST_DIRECTIVE.match(line) or MYST_DIRECTIVE.match(line)
        if directive:
            name = directive.group("name").split(":")[-1]
            arg = directive.group("arg").strip()
            if name in SHOWN and arg:
                lines.append(directive.group("indent") + SHOWN[name].format(visible_text(arg)))
                content = content or name not in ("tab", "tab-item")
            after_directive = True
            continue
        if after_directive and OPTION.match(line):
            continue
        after_directive = False
        if LABEL.match(line) or LINK_DEFINITION.match(line) or is_rst_comment(line) \
                or FENCE_CLOSE.match(line) and in_directive_block:
            continue
        lines.append(visible_text(line))
        content = content or bool(WORD.search(lines[-1]))
    cleaned = "\n".join(lines).strip("\n")
    return cleaned if content and WORD.search(cleaned) else None


def without_html_comments(text: str) -> str:
    """`<!-- ... -->` removed, in one pass (a pattern with a lazy `.*?` is quadratic on a
    text of many `<!--` and no `-->`); an unclosed comment is left as it is."""
    parts = []
    at = 0
    while (opening := text.find("<!--", at)) >= 0:
        closing = text.find("-->", opening + 4)
        if closing < 0:
            break
        parts.append(text[at:opening])
        at = closing + 3
    parts.append(text[at:])
    return "".join(parts)


def is_rst_comment(line: str) -> bool:
    """`..` alone or `.. some text` without a colon: a reST comment (not `.. _label:`,
    `.. |sub|` or a directive). By hand: the pattern it replaces was quadratic on spaces."""
    stripped = line.lstrip()
    if not stripped.startswith(".."):
        return False
    rest = stripped[2:]
    if not rest.strip():
        return True
    return rest[0].isspace() and ":" not in rest and not rest.lstrip().startswith(("_", "|"))


def _has_directive(text: str) -> bool:
    return any(MYST_DIRECTIVE.match(line) for line in text.split("\n"))


def navigation_indent(text: str) -> int | None:
    """The indent of a navigation directive (toctree, include, ...) that opens this block,
    or None: its body, up to the next line indented no deeper, is not content."""
    first = text.lstrip("\n").split("\n", 1)[0]
    directive = RST_DIRECTIVE.match(first) or MYST_DIRECTIVE.match(first)
    if directive and directive.group("name").split(":")[-1] in NAVIGATION:
        return len(directive.group("indent"))
    return None


def indent_of(text: str) -> int:
    lines = [line for line in text.split("\n") if line.strip()]
    return min((len(line) - len(line.lstrip()) for line in lines), default=0)


def content_blocks(blocks: list, kind: str) -> Iterator:
    """The blocks of a Markdown or reST section with markup removed (see the module doc);
    headings keep their place, with roles replaced in their titles."""
    from dataclasses import replace

    skip_deeper_than: int | None = None
    for number, block in enumerate(blocks):
        if number == 0 and kind == "markdown" and FRONT_MATTER.match(block.text.strip()):
            continue  # YAML or TOML front matter: settings for the builder
        if block.heading_level:
            skip_deeper_than = None
            yield replace(block, text=visible_text(block.text))
            continue
        if skip_deeper_than is not None and indent_of(block.text) > skip_deeper_than:
            continue  # the indented body of a reST navigation directive
        skip_deeper_than = None
        nav = navigation_indent(block.text)
        if nav is not None:
            skip_deeper_than = nav if kind == "rst" else None
            continue
        cleaned = clean_block(block.text)
        if cleaned is not None:
            yield replace(block, text=cleaned)
