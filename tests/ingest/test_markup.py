"""Sphinx/MyST markup is not indexed or shown: anchors, directive lines and navigation
directives go, roles become their visible text, markup-only blocks are dropped."""

from ragchat.ingest.chunking import chunk_sections
from ragchat.ingest.document import Section
from ragchat.ingest.markup import clean_block, visible_text

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
