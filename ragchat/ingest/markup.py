"""Sphinx and MyST markup out of Markdown and reST blocks, before they are chunked.

Documentation folders are written for a builder: `(label)=` and `.. _label:` anchors,
directives (`.. toctree::`, ```` ```{note} ````), their `:option:` lines, and roles
(`{ref}`Caching <caching>``, `:pep:`440``). Left in, a chunk whose whole text is `(fragments)=`
becomes the nearest neighbour of a question about fragments, and `{ref}` leaks into snippets
and answers. Here roles become the text a reader of the built page sees, anchors and
directive lines go, navigation directives (toctree, contents, include) go with their bodies,
and a block with no words left is dropped.

MDX pages (React, Docusaurus, Next.js docs) add their own: heading anchors (`## Adding time
travel {/*adding-time-travel*/}`, or `{#id}`), JSX comments `{/* ... */}`, component tags
(`<Note>`, `<Tabs groupId="os">`, `<Diagram ... />`) around the prose, and ESM lines (`import X
from '...'`, `export const meta = ...`). Anchors and comments go, tags go and their content
stays, ESM blocks go; code (fenced, or `inline`) is never touched. Everything here is found
by hand (str.find) or by patterns that cannot backtrack: linear in the text.
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


def clean_block(text: str, mdx: bool = False) -> str | None:
    """A block's text without anchors, directive lines and roles (and with `mdx`, JSX
    comments and component tags); None when nothing a reader would call content is left (a
    tab's title alone is not content)."""
    lines = []
    after_directive = content = False
    text = without_html_comments(text)
    if mdx:
        text = without_jsx(text)
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
    return _without_delimited(text, "<!--", "-->")


def _without_delimited(text: str, opening_mark: str, closing_mark: str) -> str:
    """Every `opening_mark ... closing_mark` removed, in one pass; an unclosed one is kept."""
    parts = []
    at = 0
    while (opening := text.find(opening_mark, at)) >= 0:
        closing = text.find(closing_mark, opening + len(opening_mark))
        if closing < 0:
            break
        parts.append(text[at:opening])
        at = closing + len(closing_mark)
    parts.append(text[at:])
    return "".join(parts)


# -- MDX ------------------------------------------------------------------------------------

ESM_EXPORT = re.compile(r"export\s+(?:const|let|var|function|default|class|async)\b")
MD_FENCE = re.compile(r"^\s*(?:`{3,}|~{3,})")


def heading_title(title: str) -> str:
    """A heading's title without trailing anchors: `{/*adding-time-travel*/}` (MDX) or
    `{#custom-id}` (MkDocs, Pandoc, Docusaurus), and without component tags; the title as
    it was if nothing else is left."""
    end = len(title.rstrip())
    while end and title[end - 1] == "}":  # by index: slicing a copy each time is quadratic
        start = title.rfind("{", 0, end)
        inner = title[start + 1:end - 1].strip() if start >= 0 else ""
        if not (inner.startswith("#") or (inner.startswith("/*") and inner.endswith("*/"))):
            break
        end = start
        while end and title[end - 1].isspace():
            end -= 1
    return without_jsx(title[:end]).strip() or title


def is_esm(text: str) -> bool:
    """A block of MDX `import` / `export` statements (it runs up to the next blank line)."""
    first = text.lstrip().split("\n", 1)[0]
    if first.startswith("import "):
        rest = first[len("import "):].strip()
        source = rest.rpartition(" from ")[2].strip() if " from " in rest else rest
        return source[:1] in ("'", '"')
    return bool(ESM_EXPORT.match(first))


def without_jsx(text: str) -> str:
    """JSX comments and component tags (a name with a capital: `<Note>`, `</Tabs>`,
    `<TabItem value="py">`, `<Img src="a.png" />`, a tag over several lines) removed from
    Markdown, their content kept; fenced code and `inline code` stay as they are."""
    out: list[str] = []
    prose: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        fence = bool(MD_FENCE.match(line))
        in_fence ^= fence
        if in_fence or fence:
            out.extend(_prose_without_jsx(prose))
            prose = []
            out.append(line)
        else:
            prose.append(line)
    out.extend(_prose_without_jsx(prose))
    return "\n".join(out)


def _prose_without_jsx(lines: list[str]) -> list[str]:
    if not lines:
        return []
    kept: list[str] = []
    in_tag = False
    for line in _without_delimited("\n".join(lines), "{/*", "*/}").split("\n"):
        cleaned, in_tag = _line_without_tags(line, in_tag)
        if cleaned.strip():
            kept.append(cleaned.rstrip())
        elif not line.strip():
            kept.append(line)  # a blank line stays; a line of tags alone goes
    return kept


def _line_without_tags(line: str, in_tag: bool) -> tuple[str, bool]:
    """The line without component tags outside `inline code`; whether a tag left open on
    it goes on on the next line."""
    if in_tag:
        end = line.find(">")
        if end < 0:
            return "", True
        line = line[end + 1:]
    parts = line.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside inline code
        parts[i], in_tag = _without_tags(parts[i])
        if in_tag:
            del parts[i + 1:]
            break
    return "`".join(parts), in_tag


def _without_tags(text: str) -> tuple[str, bool]:
    """`text` without `<Name ...>` and `</Name>` tags; True when the last one is unclosed."""
    out, at = [], 0
    while (start := text.find("<", at)) >= 0:
        name_at = start + 2 if text.startswith("</", start) else start + 1
        first = text[name_at:name_at + 1]
        closing = name_at == start + 2
        after_word = not closing and start > 0 and text[start - 1].isalnum()  # Map<String>
        if not (first.isascii() and first.isupper()) or after_word:  # `3 < 4`, `<a href>`
            out.append(text[at:name_at])
            at = name_at
            continue
        out.append(text[at:start])
        end = text.find(">", name_at)
        if end < 0:
            return "".join(out), True
        at = end + 1
    out.append(text[at:])
    return "".join(out), False


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
    mdx = kind == "markdown"
    for number, block in enumerate(blocks):
        if number == 0 and mdx and FRONT_MATTER.match(block.text.strip()):
            continue  # YAML or TOML front matter: settings for the builder
        if block.heading_level:
            skip_deeper_than = None
            title = visible_text(block.text)
            yield replace(block, text=heading_title(title) if mdx else title)
            continue
        if mdx and is_esm(block.text):
            continue  # MDX imports and exports: code for the builder
        if skip_deeper_than is not None and indent_of(block.text) > skip_deeper_than:
            continue  # the indented body of a reST navigation directive
        skip_deeper_than = None
        nav = navigation_indent(block.text)
        if nav is not None:
            skip_deeper_than = nav if kind == "rst" else None
            continue
        cleaned = clean_block(block.text, mdx)
        if cleaned is not None:
            yield replace(block, text=cleaned)
