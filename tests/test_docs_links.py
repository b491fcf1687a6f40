"""Every relative link in the documents a reader follows leads somewhere: the file exists, and the #anchor is a
heading's GitHub slug or an explicit ``<a id>``/``<a name>`` in it.

The documents link into each other by heading (``mqtt.md#log-card-full``, ``reliability.md#long-runs-soak``),
and a reworded heading breaks every link to it with nothing to notice: GitHub just opens the top of the page.
The Markdown is read by markdown-it-py (CommonMark, as GitHub reads it), so links in code blocks and code spans
are left out and reference-style links are resolved as a reader's browser sees them. External links (http:,
https:, mailto:) are not followed.
"""

from __future__ import annotations

import collections
import functools
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").rglob("*.md")),
    REPO / "firmware" / "README.md",
    REPO / "models" / "README.md",
    REPO / "bench" / "README.md",
]
MARKDOWN = MarkdownIt("commonmark").enable("table")
SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto: ... go elsewhere
A_TAG = re.compile(r"<a\s[^>]*>", re.IGNORECASE)
A_ATTR = re.compile(r"""\b(id|name|href)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: lower case, punctuation but '-' and '_' dropped, each space a '-'."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _a_attributes(html: str) -> Iterator[tuple[str, str]]:
    for tag in A_TAG.findall(html):
        for name, double, single in A_ATTR.findall(tag):
            yield name.lower(), double or single


def _heading_text(inline: Token) -> str:
    """What GitHub slugs: the text with code spans and link texts kept, HTML tags dropped."""
    kept = (child.content for child in inline.children or [] if child.type in {"text", "code_inline"})
    return "".join(kept).strip()


def _inline_html(tokens: Sequence[Token]) -> Iterator[tuple[int, str]]:
    """(line, html) of every HTML block and inline HTML tag."""
    for token in tokens:
        line = token.map[0] + 1 if token.map else 0
        if token.type == "html_block":
            yield line, token.content
        for child in token.children or []:
            if child.type == "html_inline":
                yield line, child.content


@functools.cache
def _tokens(path: Path) -> list[Token]:
    return MARKDOWN.parse(path.read_text(encoding="utf-8"))


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    """The #anchors a link into ``path`` may name: headings' slugs, a repeated one numbered as GitHub does
    (``notes``, ``notes-1``), and explicit ``<a id>``/``<a name>`` targets."""
    tokens = _tokens(path)
    found: set[str] = set()
    repeats: collections.Counter[str] = collections.Counter()
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        base = slug = github_slug(_heading_text(inline))
        while slug in found:
            repeats[base] += 1
            slug = f"{base}-{repeats[base]}"
        found.add(slug)
    found |= {value for _, html in _inline_html(tokens) for name, value in _a_attributes(html) if name != "href"}
    return frozenset(found)


def links(path: Path) -> list[Link]:
    """Every link and image target in ``path`` outside code, and every ``<a href>``."""
    found = []
    for token in _tokens(path):
        line = token.map[0] + 1 if token.map else 0
        for child in token.children or []:
            line += child.type in {"softbreak", "hardbreak"}  # a paragraph's links are on its later lines too
            target = child.attrs.get("href" if child.type == "link_open" else "src")
            if child.type in {"link_open", "image"} and isinstance(target, str):
                found.append(Link(path, line, unquote(target)))
    for line, html in _inline_html(_tokens(path)):
        found += [Link(path, line, value) for name, value in _a_attributes(html) if name == "href"]
    return found


def problem(link: Link, root: Path) -> str | None:
    """What is wrong with a relative link, in one line with the fix; None for a good or external one."""
    if SCHEME.match(link.target):
        return None
    file, _, anchor = link.target.partition("#")
    if not file:
        dest = link.source
    else:
        dest = ((root / file.lstrip("/")) if file.startswith("/") else (link.source.parent / file)).resolve()
    where = f"{link.source.relative_to(root)}:{link.line}: ({link.target})"
    if not dest.is_relative_to(root):
        return f"{where} leads out of the repository; link to a file in it or give the full https:// address"
    if not dest.exists():
        return f"{where} names no file; correct the path (it is relative to the folder {link.source.name} is in)"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return (
            f"{where} names no heading or <a id> in {dest.relative_to(root)}; use the heading's slug "
            'or put <a id="..."></a> where it should land'
        )
    return None


def problems(doc: Path, root: Path = REPO) -> list[str]:
    return [found for link in links(doc) if (found := problem(link, root)) is not None]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    found = problems(doc)
    assert not found, "\n".join(found)


def test_the_documents_link_to_each_other() -> None:
    """The test reads what it should: the guides' cross-links are found (not 0 for a parser change)."""
    relative = [link for doc in DOCS for link in links(doc) if not SCHEME.match(link.target)]
    assert sum("#" in link.target for link in relative) > 50
    assert {link.source.name for link in relative} >= {"README.md", "mqtt.md", "reliability.md", "metrics.md"}


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Long runs (soak)", "long-runs-soak"),
        ("What `info` holds", "what-info-holds"),
        ("Faults (tests/test_faults.py)", "faults-teststest_faultspy"),
        ("Turn-taking model — model card", "turn-taking-model--model-card"),
        (
            "Held-out AMI (`trn08`, `trn09`; 4 rooms each via `bench.simulate`, 8 × 30 s)",
            "held-out-ami-trn08-trn09-4-rooms-each-via-benchsimulate-8--30-s",
        ),
        ("Spool & retries", "spool--retries"),
    ],
)
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


BROKEN_TREE = """\
# Guide

## Set-up
## Set-up
### The `[mqtt]` table and [its keys](other.md)

<a id="explicit"></a>**Landing.** [up](#set-up) [again](#set-up-1) [table](#the-mqtt-table-and-its-keys)
[here](#explicit) [there](other.md#other) [web](https://example.com/x.md#nowhere) [dir](sub/) ![img](sub/a.png)
[ref link][r] <a href="other.md#named">named</a>

```sh
[in a fence](gone.md)
```
`[in a span](gone.md)`

[r]: other.md

[no file](gone.md) [no anchor](other.md#gone) [no third](#set-up-2) [outside](../../etc/passwd)
<a href="#nameless">tag</a> ![no image](sub/b.png)
"""


def test_broken_links_are_found_and_good_ones_pass(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"")
    (tmp_path / "other.md").write_text('# Other\n\n<a name="named"></a>\n', encoding="utf-8")
    guide = tmp_path / "guide.md"
    guide.write_text(BROKEN_TREE, encoding="utf-8")
    found = problems(guide, tmp_path)
    targets = [line.split("(", 1)[1].split(")", 1)[0] for line in found]
    assert targets == ["gone.md", "other.md#gone", "#set-up-2", "../../etc/passwd", "sub/b.png", "#nameless"]
    assert "names no file" in found[0] and "names no heading or <a id> in other.md" in found[1]
    assert "leads out of the repository" in found[3]
