"""Per-language lexicons (``listener/data/lexicons/<language>.toml``) and the matching they drive.

Recogniser output is lower case without punctuation, sometimes with
``[unk]``; recognisers differ in how they print contractions. Every word
goes through the same normalisation (contractions expanded, possessive
endings dropped, simple suffix stemming for comparing content words), and
the phrase patterns of the lexicon are matched on the normalised words.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from listener.errors import ConfigError, ModelError
from listener.transcription.words import Token, Word

_DROP = re.compile(r"[^\w' -]+")
_SPLIT = re.compile(r"[\s_-]+")
UNKNOWN = "<unk>"


@dataclass(frozen=True, slots=True)
class Step:
    """One element of a phrase pattern: a word from ``words`` (consumes it), or a look-ahead that must
    fail (``negative``) or hold (``ahead``) without taking the word."""

    words: frozenset[str]
    negative: bool = False
    ahead: bool = False


@dataclass(frozen=True, slots=True)
class Pattern:
    family: str
    steps: tuple[Step, ...]
    at_start: bool
    at_end: bool

    def match(self, words: Sequence[str], i: int) -> int | None:
        """End index of a match starting at ``i``, or None."""
        if self.at_start and i != 0:
            return None
        j = i
        for step in self.steps:
            if step.negative:
                if j < len(words) and words[j] in step.words:
                    return None
            elif step.ahead:
                if not (j < len(words) and words[j] in step.words):
                    return None
            elif j < len(words) and words[j] in step.words:
                j += 1
            else:
                return None
        if self.at_end and j != len(words):
            return None
        return j


@dataclass(frozen=True, slots=True)
class Match:
    family: str
    start: int
    end: int


class PhraseSet:
    """Patterns of several families, found longest-first, left to right, without overlaps."""

    def __init__(self, patterns: Sequence[Pattern], priority: Sequence[str] = ()) -> None:
        self._rank = {family: i for i, family in enumerate(priority)}
        self._by_first: dict[str, list[Pattern]] = {}
        self._anywhere: list[Pattern] = []
        for pattern in patterns:
            first = next((s for s in pattern.steps if not (s.negative or s.ahead)), None)
            if first is None:
                self._anywhere.append(pattern)
                continue
            for word in first.words:
                self._by_first.setdefault(word, []).append(pattern)

    def longest_at(self, words: Sequence[str], i: int, family: str | None = None) -> Match | None:
        """The longest match starting at ``i`` (of ``family`` only, if given)."""
        best: Match | None = None
        candidates = self._by_first.get(words[i], []) if i < len(words) else []
        for pattern in (*candidates, *self._anywhere):
            if family is not None and pattern.family != family:
                continue
            end = pattern.match(words, i)
            if end is None:
                continue
            if best is None or (end, -self._rank.get(pattern.family, 0)) > (
                best.end,
                -self._rank.get(best.family, 0),
            ):
                best = Match(pattern.family, i, end)
        return best

    def scan(self, words: Sequence[str]) -> list[Match]:
        found: list[Match] = []
        i = 0
        while i < len(words):
            match = self.longest_at(words, i)
            if match is not None and match.end > i:
                match = self._continued(words, match)
                found.append(match)
                i = match.end
            else:
                i += 1
        return found

    def _continued(self, words: Sequence[str], match: Match) -> Match:
        """``match`` run on through every pattern of its family that begins inside it and ends after it:
        "just to make sure" and "make sure i understand" are one summary, so that its "i understand" is
        not also the acknowledgement a scan resumed after "sure" would find."""
        end, j = match.end, match.start + 1
        while j < end:
            longer = self.longest_at(words, j, match.family)
            if longer is not None and longer.end > end:
                end = longer.end
            j += 1
        return match if end == match.end else Match(match.family, match.start, end)


class Stemmer:
    """Suffix stripping, just enough that "charging", "charged" and "charge" compare equal."""

    def __init__(self, table: dict[str, Any], where: str) -> None:
        self.inflections = [(str(a), str(b)) for a, b in _get(table, "inflections", list, where)]
        self.suffixes = [(str(a), str(b)) for a, b in _get(table, "suffixes", list, where)]
        self.min_stem = int(_get(table, "min_stem", int, where))
        self.keep = tuple(_get(table, "keep_endings", list, where))
        self.undouble_except = frozenset(_get(table, "undouble_except", list, where))
        self.drop_final = tuple(_get(table, "drop_final", list, where))
        self.restore_final = str(table.get("restore_final", ""))

    def __call__(self, word: str) -> str:
        if len(word) <= self.min_stem or word.endswith(self.keep):
            return word
        word = self._strip(word, self.inflections)
        while (shorter := self._strip(word, self.suffixes, restore=True)) != word:
            word = shorter
        if len(word) > self.min_stem and word.endswith(self.drop_final):
            word = word[:-1]
        return word

    def inflected(self, word: str) -> str:
        """The word less its inflection only: "chargers" is "charger", but "charging" stays apart from it, as
        two words the customer said are two words repeated, though they share a stem."""
        if len(word) <= self.min_stem or word.endswith(self.keep):
            return word
        return self._strip(word, self.inflections)

    def _strip(self, word: str, rules: list[tuple[str, str]], restore: bool = False) -> str:
        """``restore``: a suffix that leaves one letter short of min_stem took ``restore_final`` with it."""
        final = self.restore_final
        for suffix, replacement in rules:
            if not word.endswith(suffix):
                continue
            left = word[: len(word) - len(suffix)] + replacement
            if restore and final and 2 <= len(left) == self.min_stem - len(final) and not left.endswith(final):
                return left + final  # "us(e)d": a short word's own final letter, not a stem to strip
            if len(left) >= self.min_stem:
                word = left
                doubled = len(word) > self.min_stem and word[-1] == word[-2] and word[-1] not in "aeiou"
                return word[:-1] if doubled and word[-1] not in self.undouble_except else word
        return word


class Lexicon:
    """Everything language-specific the cue detectors need."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.language = str(_get(data, "language", str, where))
        norm = _get(data, "normalise", dict, where)
        self.unknown = frozenset(_get(norm, "unknown", list, where))
        self.strip_endings = tuple(_get(norm, "strip_endings", list, where))
        self.join = frozenset(tuple(pair.split()) for pair in _get(norm, "join", list, where))
        self.contractions = {k: tuple(v.split()) for k, v in _get(data, "contractions", dict, where).items()}
        self.stem = Stemmer(_get(data, "stemming", dict, where), where)
        words = _get(data, "words", dict, where)
        self.fillers = frozenset(_get(words, "fillers", list, where))
        self.common = frozenset(_get(words, "common", list, where))  # to tell a model of another language
        self.stop = frozenset(_get(words, "stop", list, where))
        self.short_content = frozenset(_get(words, "short_content", list, where))
        self.stop_endings = [(str(a), str(b)) for a, b in _get(words, "stop_endings", list, where)]
        self.classes = {k: frozenset(v) for k, v in _get(data, "classes", dict, where).items()}
        self.subjects = self.classes.get("subject", frozenset())
        self.auxiliaries = self.classes.get("aux", frozenset())
        self.hedges = self.classes.get("hedge", frozenset())  # may stand between "will" and its "not"
        self._load_questions(_get(data, "questions", dict, where), where)
        self._load_phrases(_get(data, "phrases", dict, where), where)

    def _load_questions(self, q: dict[str, Any], where: str) -> None:
        self.lead_in = PhraseSet(
            [self._pattern(f, p, where) for f in ("lead_in", "lead_in_check") for p in _get(q, f, list, where)]
        )
        self.not_before_tag = frozenset(_get(q, "not_before_tag", list, where))
        self.statement_ends = frozenset(_get(q, "statement_ends", list, where))
        self.tag_objects = frozenset(_get(q, "tag_objects", list, where))
        self.plan_inside_after = frozenset(_get(q, "plan_inside_after", list, where)) | self.auxiliaries
        self.deadline_after = frozenset(_get(q, "deadline_after", list, where))
        self.deadline_negators = frozenset(_get(q, "deadline_negators", list, where))
        families = ("not_question", "closed", "open")
        self.questions = PhraseSet(
            [self._pattern(f, p, where) for f in families for p in _get(q, f, list, where)], priority=families
        )
        tags = (("not_question", "not_tags"), ("closed", "closed_tags"))
        self.tags = PhraseSet(
            [self._pattern(f, p, where) for f, key in tags for p in _get(q, key, list, where)],
            priority=[f for f, _ in tags],
        )

    def _load_phrases(self, phrases: dict[str, Any], where: str) -> None:
        # "neutral" phrases count as nothing: they only outrank a shorter phrase inside them
        # ("i am not sure i understand" is no acknowledgement)
        self.phrase_families = ("summary", "action", "deadline", "acknowledgement", "neutral")
        self.phrases = PhraseSet(
            [self._pattern(f, p, where) for f in self.phrase_families for p in _get(phrases, f, list, where)],
            priority=self.phrase_families,
        )

    def _pattern(self, family: str, text: str, where: str) -> Pattern:
        parts = text.split()
        at_start = bool(parts) and parts[0] == "^"
        at_end = bool(parts) and parts[-1] == "$"
        steps = []
        for part in parts[int(at_start) : len(parts) - int(at_end)]:
            negative, ahead = part.startswith("!"), part.startswith("&")
            words = part[1:] if negative or ahead else part
            if not words or words[0] in "!&":  # "&!it", "!&it", a bare "&": read otherwise, in silence
                raise ModelError(
                    f"lexicon {where}: pattern {text!r} has {part!r}: write !a|b or &a|b, one mark before words"
                )
            alternatives: set[str] = set()
            for alt in words.split("|"):
                if alt.startswith("{") and alt.endswith("}"):
                    if alt[1:-1] not in self.classes:
                        raise ModelError(
                            f"lexicon {where}: pattern {text!r} names unknown class {alt}: add it to [classes]"
                        )
                    alternatives |= self.classes[alt[1:-1]]
                else:
                    alternatives.update(self.normalise(alt))
            steps.append(Step(frozenset(alternatives), negative, ahead))
        return Pattern(family, tuple(steps), at_start, at_end)

    def normalise(self, raw: str) -> list[str]:
        """A recogniser word as zero or more normalised words."""
        word = _folded(raw)
        if word in self.unknown:
            return [UNKNOWN]
        word = _DROP.sub("", word).strip("'")
        if word in self.contractions:  # before splitting at hyphens: "uh-huh" is one word
            return list(self.contractions[word])
        out: list[str] = []
        for part in _SPLIT.split(word):
            part = part.strip("'")
            if not part:
                continue
            if part in self.contractions:
                out.extend(self.contractions[part])
                continue
            for ending in self.strip_endings:
                if part.endswith(ending) and len(part) > len(ending):
                    part = part[: -len(ending)]
                    break
            out.append(part)
        return out

    def joined(self, words: Sequence[Word]) -> list[Word]:
        """The words with a backchannel printed as two ("uh huh") as one ("uh-huh"), not a filler and a word."""
        out: list[Word] = []
        for word in words:
            if out and (_plain(out[-1].text), _plain(word.text)) in self.join:
                first = out.pop()
                word = Word(f"{first.text}-{word.text}", first.start_s, word.end_s, min(first.conf, word.conf))
            out.append(word)
        return out

    def spoken(self, norm: str) -> bool:
        """Whether a normalised word counts towards a speaking rate: fillers do not, and neither does the
        unknown token, which marks a noise as often as a word the recogniser could not place."""
        return norm not in self.fillers and norm != UNKNOWN

    def content(self, norm: str) -> bool:
        """Whether a normalised word may carry what a conversation is about."""
        short = len(norm) <= 2 and norm not in self.short_content
        return self.spoken(norm) and norm not in self.stop and not short and not self._stop_form(norm)

    def _stop_form(self, norm: str) -> bool:
        """Whether a word is a form of a stop word: "looking" is "look" heard, "getting" "get"."""
        for ending, replacement in self.stop_endings:
            if not norm.endswith(ending):
                continue
            base = norm[: len(norm) - len(ending)] + replacement
            if len(base) < self.stem.min_stem:
                continue
            if base in self.stop or (base[-1] == base[-2] and base[:-1] in self.stop):
                return True
        return False

    def tokens(self, words: Sequence[Word]) -> list[Token]:
        out: list[Token] = []
        for word in words:
            for norm in self.normalise(word.text):
                filler = norm in self.fillers
                out.append(Token(norm, self.stem(norm), word.start_s, word.end_s, self.content(norm), filler))
        return out


def _folded(raw: str) -> str:
    """Lower case, no surrounding space, a typographic apostrophe as a plain one."""
    return raw.strip().lower().replace("\u2019", "'")


def _plain(raw: str) -> str:
    """A recogniser word as normalise() reads it, before contractions and splitting."""
    return _DROP.sub("", _folded(raw)).strip("'")


def _lexicons() -> Traversable:
    return resources.files("listener") / "data" / "lexicons"


def available_languages() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in _lexicons().iterdir() if p.name.endswith(".toml"))


def check_language(language: str) -> None:
    """A config error at asr.language, naming the lexicons there are, unless one is shipped for ``language``."""
    resource = _lexicons() / f"{language}.toml"
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)?", language) or not resource.is_file():
        available = available_languages()
        from listener.config.value_hints import near_hint  # here: listener.config imports this module

        raise ConfigError(
            "asr.language",
            language,
            f"no lexicon for it; available: {', '.join(available)}{near_hint('asr.language', language, available)}",
        )


def load_lexicon(language: str) -> Lexicon:
    """The lexicon shipped for ``language``; a config error names the ones there are."""
    check_language(language)
    where = f"{language}.toml"
    resource = _lexicons() / where
    try:
        data = tomllib.loads(resource.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"lexicon {where} is not valid TOML ({exc}): fix the file") from None
    return Lexicon(data, where)


def _get(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind):
        raise ModelError(f"lexicon {where}: '{key}' is missing or not a {kind.__name__}: add it (see en.toml)")
    return value
