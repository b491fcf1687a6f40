"""Every relative link in the documents a reader follows leads somewhere: the file exists, and the #anchor is a
heading's GitHub slug or an explicit ``<a id>``/``<a name>`` in it.

The documents link into each other by heading (``mqtt.md#log-card-full``, ``reliability.md#long-runs-soak``),
and a reworded heading breaks every link to it with nothing to notice: GitHub just opens the top of the page.
The Markdown is read by markdown-it-py (CommonMark, as GitHub reads it), so links in code blocks and code spans
are left out and reference-style links are resolved as a reader's browser sees them. External links (http:,
https:, mailto:) are not followed.

The files they name in code are there too (``tests/test_faults.py``, ``listener/outputs/condition.py``, a test as
``tests/test_mqtt_run.py::test_broker_outage_mid_run_loses_nothing``): a renamed file or test would leave such a
name pointing at nothing, and it is no link for the check above to follow.
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


# A file of the repository named in code (`tests/test_faults.py`, `listener/outputs/condition.py::...`): the top
# folders a path starts at. Under listener/ only a name with a suffix or a trailing '/' is a path, since topics
# are written there too (`listener/counter-3/doctor`, `listener/+/+`); .cache/ folders are made by the benches.
# A path that goes on as a template (`listener/counter-3/$t`, `listener/store-12/<device_id>/`) is none.
REPO_PATH = re.compile(
    r"(?<![\w./<>+-])((?:listener|tests|bench|docs|firmware|scripts|systemd|models|\.ci)/[\w./-]*+)(?![$<{+#*])(::\w+)?"
)


def named_paths(path: Path) -> list[Link]:
    """Every repository path in the code spans and code blocks of ``path``, with ``::test`` where one follows."""
    found = []
    for token in _tokens(path):
        line = token.map[0] + 1 if token.map else 0
        spans = [(line + (token.type == "fence"), token.content)] if token.type in {"fence", "code_block"} else []
        for child in token.children or []:
            line += child.type in {"softbreak", "hardbreak"}
            spans += [(line, child.content)] if child.type == "code_inline" else []
        for start, text in spans:
            found += [
                Link(path, start + text.count("\n", 0, m.start()), "".join(m.groups("")))
                for m in REPO_PATH.finditer(text)
            ]
    return found


def path_problem(named: Link, root: Path) -> str | None:
    """What is wrong with a path a document names in code, in one line with the fix; None when it is there."""
    file, _, test = named.target.partition("::")
    file = file.rstrip(".-")  # a sentence's full stop after the path
    first, last = file.split("/", 1)[0], file.rstrip("/").rsplit("/", 1)[-1]
    if ".cache" in file.split("/") or (first == "listener" and not file.endswith("/") and "." not in last):
        return None
    where = f"{named.source.relative_to(root)}:{named.line}: `{named.target}`"
    if not (root / file).exists():
        return f"{where} names no file of the repository; correct the path (it is the repository's, from its top)"
    if test and not re.search(rf"^(?:async )?def {test}\(", (root / file).read_text(encoding="utf-8"), re.M):
        return f"{where}: {file} has no {test}; name the test as it is now written"
    return None


def path_problems(doc: Path, root: Path = REPO) -> list[str]:
    return [found for named in named_paths(doc) if (found := path_problem(named, root)) is not None]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    found = problems(doc)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(REPO)))
def test_the_files_named_in_code_are_there(doc: Path) -> None:
    found = path_problems(doc)
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


NAMING_TREE = """\
# Guide

`tests/test_a.py` and `tests/test_a.py::test_there`, `scripts/demo`, `listener/outputs/` and `docs/a.md`.
Topics are no files: `listener/counter-3/doctor`, `listener/store-12/<device_id>/`, `listener/+/+`; nor caches:
`bench/.cache/cases-coherent/`.

```sh
sudo firmware/gone.sh --dry-run
for t in status info; do mosquitto_pub -t "listener/counter-3/$t"; done
```

`tests/test_gone.py`, `tests/test_a.py::test_gone`, `listener/data/gone.json`.
"""


def test_files_named_in_code_are_found_missing_and_topics_are_not_taken_for_files(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_there() -> None:\n    pass\n", encoding="utf-8")
    for there in ("scripts/demo", "listener/outputs/x.py", "docs/a.md"):
        (tmp_path / there).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / there).write_text("", encoding="utf-8")
    guide = tmp_path / "guide.md"
    guide.write_text(NAMING_TREE, encoding="utf-8")
    found = path_problems(guide, tmp_path)
    named = [line.split("`")[1] for line in found]
    assert named == ["firmware/gone.sh", "tests/test_gone.py", "tests/test_a.py::test_gone", "listener/data/gone.json"]
    assert "names no file of the repository" in found[0] and "has no test_gone" in found[2]
    assert found[0].startswith("guide.md:8: ") and found[1].startswith("guide.md:12: ")


def test_the_documents_name_files_in_code() -> None:
    """The check reads what it should: the guides name hundreds of the repository's files and tests in code."""
    named = [path for doc in DOCS for path in named_paths(doc)]
    assert len(named) > 300
    assert sum("::" in path.target for path in named) > 30
