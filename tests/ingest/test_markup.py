"""Sphinx/MyST markup is not indexed or shown: anchors, directive lines and navigation
directives go, roles become their visible text, markup-only blocks are dropped."""

from ragchat.ingest.chunking import chunk_sections
from ragchat.ingest.document import Section
from ragchat.ingest.markup import clean_block, heading_title, visible_text

MYST = """\
---
hide-toc: true
---

(caching)=

# Caching

```{versionadded} 6.0

```

Pip caches downloads, see {ref}`Installing from local packages <local-installs>` and
{pep}`517`, or {doc}`the guide </topics/guide>`.

```{toctree}
:maxdepth: 1
:hidden:

getting-started
installation
```

(fragments)=

## Fragments

News fragments are short files that describe a change.

[pypi]: https://pypi.org/
"""

RST = """\
.. _`pip install`:

===========
pip install
===========

.. tab:: Unix/macOS

   .. pip-command-usage:: install 'python -m pip'

.. toctree::
   :maxdepth: 2

   quickstart
   user_guide

Overview
========

``pip install`` resolves dependencies, see :ref:`Requirements <requirements>` and
:py:func:`~pip.main`, and `the guide <https://packaging.python.org>`_.

.. note::

   Only runtime dependencies are ordered.
"""


def texts(kind: str, source: str):
    return [(c.heading, c.text) for c in chunk_sections([Section(source, kind)], 800, 100)]


def test_myst_markup_is_gone_and_content_stays():
    chunks = texts("markdown", MYST)
    joined = "\n".join(text for _, text in chunks)
    for markup in ("(caching)=", "(fragments)=", "{ref}", "{pep}", "toctree", "maxdepth",
                   "getting-started", "hide-toc", "```", "[pypi]:"):
        assert markup not in joined, markup
    assert "New in version 6.0." in joined
    assert "see Installing from local packages and\nPEP 517, or the guide." in joined
    assert ("Caching > Fragments", "News fragments are short files that describe a change.") \
        in chunks
    assert all(text.strip() for _, text in chunks)


def test_rst_markup_is_gone_and_content_stays():
    chunks = texts("rst", RST)
    joined = "\n".join(text for _, text in chunks)
    for markup in (".. _", "pip-command-usage", "toctree", "quickstart", ":ref:", ":py:func:",
                   "Unix/macOS", ".. note::", "<https://"):
        assert markup not in joined, markup
    assert "see Requirements and\npip.main, and the guide." in joined
    assert "Only runtime dependencies are ordered." in joined


def test_markup_only_blocks_are_none():
    for block in ("(fragments)=", ".. _label:", ".. meta::\n   :description: pip docs",
                  "```{toctree}\n:hidden:\n```", "<!-- a comment -->", ".. pip-command-options:: install"):
        assert clean_block(block) is None, block
    assert clean_block("-- 1. *") is None  # no word left: nothing to search for
    assert clean_block("Yes.") == "Yes."
    assert clean_block("It works.") == "It works."


def test_plain_text_and_code_are_untouched():
    prose = "Use `pip install -e .` for an editable install: {'a': 1} is a dict; 3 < 4 > 2."
    assert visible_text(prose) == prose
    code = "```python\nx = {'key': 'value'}\nprint(x)\n```"
    assert clean_block(code) == code
    assert texts("text", "(label)=\n\nplain text files keep {ref}`this`") == \
        [(None, "(label)=\n\nplain text files keep {ref}`this`")]


def test_an_overlined_rst_title_heads_the_sections_under_it():
    source = ("==========\npip freeze\n==========\n\nUsage\n=====\n\nRun it.\n\n"
              "Examples\n========\n\nSave the list: pip freeze > requirements.txt\n")
    chunks = texts("rst", source)
    assert ("pip freeze > Usage", "Run it.") in chunks
    assert ("pip freeze > Examples", "Save the list: pip freeze > requirements.txt") in chunks
    assert all("=====" not in text for _, text in chunks)


MDX = """\
---
title: Tutorial
---

import Sandpack from '@site/components/Sandpack';
import {Note, Tip} from "./components"

export const meta = {
  title: 'Tic-tac-toe',
};

# Tutorial: Tic-Tac-Toe {/*tutorial-tic-tac-toe*/}

<Intro>

You will build a small tic-tac-toe game. {/* a note to editors */}

</Intro>

## Adding time travel {/*adding-time-travel*/}

<Note>

Time travel stores the history of moves: use `<Board />` here; Map<String> stays.

</Note>

<Tabs groupId="os">
<TabItem
  value="js"
  label="JavaScript">

```jsx
import Board from './Board';
export default function Game() {
  return <Board />; {/* kept: this is code */}
}
```

</TabItem>
</Tabs>

### Step 2 {#step-two}

Press <Kbd>Ctrl</Kbd> to undo.
"""


def test_mdx_anchors_components_and_esm_are_gone_and_content_and_code_stay():
    chunks = texts("markdown", MDX)
    headings = [heading for heading, _ in chunks]
    assert headings == ["Tutorial: Tic-Tac-Toe", "Tutorial: Tic-Tac-Toe > Adding time travel",
                        "Tutorial: Tic-Tac-Toe > Adding time travel > Step 2"]
    joined = "\n".join(text for _, text in chunks)
    prose = joined.replace(joined[joined.index("```jsx"):joined.rindex("```") + 3], "")
    for markup in ("{/*", "<Intro>", "</Intro>", "<Note>", "<Tabs", "<TabItem", "label=",
                   "</TabItem>", "<Kbd>", "import Sandpack", "import {Note", "export const",
                   "{#step-two}", "a note to editors"):
        assert markup not in prose, markup
    assert "You will build a small tic-tac-toe game." in joined
    assert "use `<Board />` here; Map<String> stays." in joined  # inline code, generics
    assert "import Board from './Board';\nexport default function Game() {\n" \
           "  return <Board />; {/* kept: this is code */}\n}" in joined  # code untouched
    assert "Press Ctrl to undo." in joined


def test_heading_anchors_go_from_the_title():
    assert heading_title("Adding time travel {/*adding-time-travel*/}") == "Adding time travel"
    assert heading_title("Install {#install}") == "Install"
    assert heading_title("Sets {a, b}") == "Sets {a, b}"  # not an anchor
    assert heading_title("{#only-an-anchor}") == "{#only-an-anchor}"  # nothing else to show


def test_mdx_source_labels_and_search_text_hold_no_anchor(tmp_path):
    """Through the reader, as an ingest reads an .mdx file: the location a citation shows."""
    from ragchat.ingest.budgets import Budgets
    from ragchat.ingest.worker import ReadJob, read_and_chunk

    page = tmp_path / "tutorial.mdx"
    page.write_text(MDX, encoding="utf-8")
    result = read_and_chunk(ReadJob(str(page), "off", 800, 100, True), Budgets())
    for chunk in result.chunks:
        assert "{/*" not in chunk.location and "{#" not in chunk.location
        assert "<Note>" not in chunk.index_text and "import Sandpack" not in chunk.index_text
    assert any(c.location.endswith("(Tutorial: Tic-Tac-Toe > Adding time travel)")
               for c in result.chunks)
