"""Content cues from attributed, timed words (see ../shared/metrics.md, "Content cues").

Fed one utterance at a time (one party's words between recogniser
endpoints), in time order. Questions, acknowledgements, action plans and
fillers are the rep's; follow-ups and echoes compare the rep's content
words with the customer's last floor. Floors are not read from the words:
the detector asks where the customer's last floor begins (``customer_floor``,
the analytics' own floor rules run on the activity frames, which reach the
stage before the words they cover), and a word belongs to the floor whose
span holds its middle. The only words held between calls
are the content stems of the customer's last floor, those of them the rep
has repeated since the customer last spoke, and the last few words of the rep's last
utterance (a summarising phrase may straddle a recogniser endpoint);
:meth:`CueDetector.forget` drops them at the end of a session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from listener.events import (
    Acknowledgement,
    ActionPlan,
    Echo,
    Event,
    Filler,
    Party,
    Question,
    WordsRecognized,
)
from listener.transcription.lexicon import Lexicon, Match
from listener.transcription.words import Token, Word

TAG_MAX_WORDS = 4  # longest question tag ("did not it", "have not you")
TAIL_WORDS = 6  # words of the rep's last utterance a summarising phrase may begin in ("so what i am hearing")
COMPLEMENT_AUX_REACH = 3  # words after a question word an auxiliary must come within ("how long has it")


class Asked(NamedTuple):
    """How an utterance asks: ``open_ended`` True (open), False (closed) or None (no question); the word the
    question starts at; ``tagged``: a statement closed by a question tag, asked from the tag."""

    open_ended: bool | None
    start: int
    tagged: bool = False


# the onset of the customer's latest floor begun by an audio time (None: none since the session began)
FloorOnset = Callable[[float], float | None]


class CueDetector:
    def __init__(self, lexicon: Lexicon, echo_min_words: int, customer_floor: FloorOnset) -> None:
        self.lex = lexicon
        self.echo_min_words = echo_min_words
        self.customer_floor = customer_floor
        self._floor_onset_s: float | None = None  # where the floor whose words _customer_floor holds began
        # the customer's last floor: its content words, stem -> the words of that stem it said -> when last
        self._customer_floor: dict[str, dict[str, float]] = {}
        self._rep_turn: dict[str, set[str]] = {}  # the same of the customer's words the rep repeated since
        self._rep_tail: list[str] = []  # the rep's last words, while nobody else has spoken since
        self._echoed = False

    @property
    def holding(self) -> bool:
        """Whether any word-derived state is in memory: the words, and what was judged from them (which floor
        they are of, an echo already counted), which would otherwise carry into the next visit."""
        floor = self._floor_onset_s is not None
        return bool(self._customer_floor or self._rep_turn or self._rep_tail or floor or self._echoed)

    def forget(self) -> None:
        """Session end: drop everything derived from words."""
        self._customer_floor = {}
        self._rep_turn = {}
        self._rep_tail = []
        self._floor_onset_s = None
        self._echoed = False

    def utterance(self, party: Party, words: Sequence[Word], decided_s: float) -> list[Event]:
        if not words:
            return []
        words = self.lex.joined(words)
        tokens = self.lex.tokens(words)
        n_words = sum(1 for w in words if any(self.lex.spoken(n) for n in self.lex.normalise(w.text)))
        start_s, end_s = words[0].start_s, words[-1].end_s
        out: list[Event] = [
            WordsRecognized(party=party, start_s=start_s, end_s=end_s, decided_s=decided_s, n_words=n_words)
        ]
        if party is Party.CUSTOMER:
            self._customer(tokens)
        else:
            out.extend(self._rep(tokens, decided_s))
        return out

    def _follow_floor(self, token: Token) -> None:
        """Move on to the customer's floor that ``token`` was said in, if a new one began by then: its words
        said so far stay (words may come back before the floor they began is decided), the older ones go, and
        the rep's turn ends (only the customer taking the floor lets the rep echo again: "yes" during a summary
        allows no second echo)."""
        onset_s = self.customer_floor(_middle_s(token))
        if onset_s is None or onset_s == self._floor_onset_s:
            return  # still the same floor; or none yet, and a reply before it belongs to what was said before
        self._floor_onset_s = onset_s
        kept = {
            stem: {w: t_s for w, t_s in forms.items() if t_s >= onset_s} for stem, forms in self._customer_floor.items()
        }
        self._customer_floor = {stem: forms for stem, forms in kept.items() if forms}
        self._rep_turn = {}
        self._echoed = False

    def _customer(self, tokens: list[Token]) -> None:
        self._rep_tail = []
        # any customer words end the rep's turn for the words it repeats: R "what phone is it" - C "a
        # samsung" - R "is it the original charger" is two questions, no echo of "phone" and "charger"
        self._rep_turn = {}
        for t in tokens:
            self._follow_floor(t)
            # a short answer during the rep's floor still belongs to what the customer last said
            if t.content:
                forms = self._customer_floor.setdefault(t.stem, {})
                forms[self.lex.stem.inflected(t.norm)] = _middle_s(t)

    def _rep(self, tokens: list[Token], decided_s: float) -> list[Event]:
        rep = Party.REP
        if tokens:
            self._follow_floor(tokens[0])
        out: list[Event] = [Filler(by=rep, onset_s=t.start_s, decided_s=decided_s) for t in tokens if t.filler]
        spoken = _unstuttered([t for t in tokens if not t.filler])
        if not spoken:
            return out
        norms = [t.norm for t in spoken]
        phrases = self.lex.phrases.scan(norms)
        asked = self._question(norms, phrases)
        ack = next((m.start for m in phrases if m.family == "acknowledgement"), None)
        if ack is not None:  # one of each per utterance
            out.append(Acknowledgement(by=rep, onset_s=spoken[ack].start_s, decided_s=decided_s))
        plan = self._plan(norms, phrases, asked)
        if plan is not None:
            out.append(ActionPlan(by=rep, onset_s=spoken[plan].start_s, decided_s=decided_s))
        content = [t for t in spoken if t.content]
        if asked.open_ended is not None:
            followup = any(t.stem in self._customer_floor for t in content)
            out.append(
                Question(
                    by=rep,
                    onset_s=spoken[0].start_s,
                    end_s=spoken[-1].end_s,
                    decided_s=decided_s,
                    open_ended=asked.open_ended,
                    followup=followup,
                )
            )
        # only words the customer said first: the rep's "warranty status", answered "warranty status", is no echo
        for t in content:
            if t.stem in self._customer_floor:
                self._rep_turn.setdefault(t.stem, set()).add(self.lex.stem.inflected(t.norm))
        summary = self._summarises(norms)
        if not self._echoed and (summary or self._repeated() >= self.echo_min_words):
            self._echoed = True
            out.append(Echo(by=rep, onset_s=spoken[0].start_s, decided_s=decided_s, summary=summary))
        return out

    def _repeated(self) -> int:
        """How many of the customer's words the rep has repeated: "charger" and "charging", said by both, are
        two; the rep's "charged" and "charging" for the customer's one "charging" are one."""
        return sum(min(len(forms), len(self._customer_floor[stem])) for stem, forms in self._rep_turn.items())

    def _plan(self, norms: list[str], phrases: list[Match], asked: Asked) -> int | None:
        """Where the utterance's first action plan starts that does not sit inside its question: "do you
        think i'll need it" and "what's the next step" plan nothing; "let me check: is it under warranty"
        and "is it under warranty, let me check" do (one of each per utterance: "here's what I'll do: I'll
        call them" is one action plan)."""
        for m in phrases:
            if m.family not in ("action", "deadline") or (
                m.family == "deadline" and not self._committed(norms, m.start)
            ):
                continue
            inside = asked.open_ended is not None and m.start >= asked.start
            if inside and (m.start == asked.start or self._held(norms, m.start)):
                continue  # inside the question (norms[m.start - 1] only read once it lies in it)
            # a tag asks its whole statement: a plan in it commits unless a clause holds it ("you don't think
            # i'll call them, do you" plans nothing; "i'll order a new one, shall i" does)
            if asked.tagged and 0 < m.start < asked.start and self._held(norms, m.start):
                continue
            return m.start
        return None

    def _held(self, norms: list[str], start: int) -> bool:
        """The plan at ``start`` is part of a clause ("think", "know", "if", "that" ... before it)."""
        return norms[start - 1] in self.lex.plan_inside_after

    def _committed(self, norms: list[str], end: int) -> bool:
        """Whether a subject and "will" or "can" stand before ``end``, not negated: "it will be ready (by
        tomorrow)", not "it will not be ready", "it will probably not be ready" nor "will it be ready"."""
        return any(
            norms[k] in self.lex.deadline_after and norms[k - 1] in self.lex.subjects and not self._negated(norms, k)
            for k in range(1, end)
        )

    def _negated(self, norms: list[str], k: int) -> bool:
        """A negator right after ``norms[k]``, or after one hedge there ("will probably not")."""
        after = norms[k + 1] if k + 1 < len(norms) else ""
        if after in self.lex.hedges and k + 2 < len(norms):
            after = norms[k + 2]
        return after in self.lex.deadline_negators

    def _summarises(self, norms: list[str]) -> bool:
        """A summarising phrase ending in this utterance, begun in it or in the rep's last one."""
        tail, self._rep_tail = self._rep_tail, norms[-TAIL_WORDS:]
        joined = self.lex.phrases.scan([*tail, *norms])
        return any(m.family == "summary" and m.end > len(tail) for m in joined)

    def _question(self, norms: list[str], phrases: list[Match]) -> Asked:
        """Whether and how the utterance asks, and the word the question starts at."""
        skip = {m.start: m.end for m in phrases if m.family == "acknowledgement"}
        claimed = {m.start for m in phrases if m.family in ("summary", "action")}
        p, clause_may_follow = 0, False
        while p < len(norms):
            lead = self.lex.lead_in.longest_at(norms, p)
            if p in skip and (lead is None or skip[p] >= lead.end):
                p, clause_may_follow = skip[p], True
            elif lead is not None:
                # "i understand, okay, what happened": a plain lead-in starts anew; "let me check what ..." does not
                p, clause_may_follow = lead.end, lead.family == "lead_in_check"
            else:
                break
        # a summary or plan is no question ("what i will do is ..."), but one may follow it as a
        # lead-in ("let me check: is it under warranty")
        if p < len(norms) and p not in claimed:
            start = self.lex.questions.longest_at(norms, p)
            if start is not None and clause_may_follow and self._complement(norms, start):
                start = None
            if start is not None:
                return Asked(None if start.family == "not_question" else start.family == "open", p)
        return self._tagged(norms)

    def _complement(self, norms: list[str], start: Match) -> bool:
        """After an acknowledgement or a check's lead-in, a question word with no auxiliary close behind
        opens a clause: "i understand what happened", "let me check how long it takes"; "i understand, what
        model is it" asks (a question word opens an open question, so the words after it decide)."""
        if start.family != "open" or start.end - start.start != 1:
            return False
        behind = norms[start.end : start.end + COMPLEMENT_AUX_REACH]
        return not any(w in self.lex.auxiliaries for w in behind)

    def _tagged(self, norms: list[str]) -> Asked:
        """A statement closed by a question tag is a closed question ("it broke did not it"), unless a
        question word stands shortly before a two-word tag: "(i can help with that) what model is it"
        asks openly, its auxiliary and subject only look like a tag."""
        s = self._tag_at(norms)
        if s is None:
            return Asked(None, len(norms))
        if len(norms) - s == 2:
            for k in range(max(0, s - COMPLEMENT_AUX_REACH), s):
                start = self.lex.questions.longest_at(norms, k)
                if start is not None and start.family == "not_question" and start.end == len(norms):
                    return Asked(None, len(norms))  # "(my name is sam) how are you": a greeting
                if start is not None and start.family == "open" and start.end - start.start == 1:
                    return Asked(True, k)
        # asked from the tag: the statement before it commits ("i'll order a new one, shall i" plans)
        return Asked(False, s, tagged=True)

    def _tag_at(self, norms: list[str]) -> int | None:
        """Where a question tag ending the utterance begins ("... did not it", "... do you"), not "so do i"."""
        for s in range(max(0, len(norms) - TAG_MAX_WORDS), len(norms)):
            tag = self.lex.tags.longest_at(norms, s)
            if tag is None or tag.end != len(norms):
                continue
            if tag.family == "not_question":  # "(i would wait) if i were you"
                return None
            if s == 0 or norms[s - 1] in self.lex.not_before_tag or self._statement_verb(norms, s):
                continue
            return s
        return None

    def _statement_verb(self, norms: list[str], s: int) -> bool:
        """Whether the would-be tag is the verb of a statement whose subject stands before it ("that is
        it", "this was not it"); not when that word is the object of a verb ("the update broke it did not
        it", "that did it did not it"), while "i guess that is it" keeps its subject."""
        before = norms[s - 1]
        if norms[-1] not in self.lex.statement_ends or before not in self.lex.subjects:
            return False
        if s < 2 or before not in self.lex.tag_objects:
            return True
        verb = norms[s - 2]
        return not (self.lex.content(verb) or verb in self.lex.auxiliaries)


def _middle_s(token: Token) -> float:
    """Where a word is placed among the floors: a word at a floor's edge belongs to the floor that holds most of it."""
    return 0.5 * (token.start_s + token.end_s)


def _unstuttered(tokens: list[Token]) -> list[Token]:
    """The words with an immediate repeat of one or two words said once: "is is it", "can you can you
    tell me" (the repeat would hide the question, or make an open one closed)."""
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        for n in (1, 2):
            if len(out) >= 2 * n and [t.norm for t in out[-n:]] == [t.norm for t in out[-2 * n : -n]]:
                del out[-n:]
                break
    return out
