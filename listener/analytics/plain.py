"""The plain-text summary `listener analyze` prints without ``--json``: one line per figure, for a person.

The whole file's talk times and share, then what the sessions hold (the overlap events and the habits
metrics.md names: floors, response gaps, switches, silences, dominance, premature starts, with their
thresholds where a count depends on one; with no session, why), and with transcription on the content
cues. Every figure here is also in the JSON report; the report is what tools read.
"""

from __future__ import annotations

from listener.analytics.report import ReportCollector
from listener.analytics.summary import no_session, sessions_started
from listener.config.schema import AnalyticsConfig
from listener.events import Party, SessionSummary
from listener.transcription.summary import RATE_MIN_TALK_S, CueFigures

LABEL_CHARS = 14  # the labels' column, as the first lines always had it
WPM_GUIDANCE = (100, 165)  # metrics.md's speaking-rate guidance, words per minute


def summary_lines(
    collector: ReportCollector, whole: SessionSummary, config: AnalyticsConfig, cues: CueFigures | None = None
) -> list[str]:
    """The lines, in reading order: who talked, what happened over the talk, the habits, what was said (with
    transcription on), the sessions."""
    said = _cues(cues, whole) if cues is not None else []
    if not sessions_started(collector.events):  # bare zeros would read as a visit with none of them
        within = [_line("in sessions", f"-   ({no_session(collector.segments)}): no habit is counted")]
    else:  # the talk above is the whole file's; a rep talking before the customer came is in no session
        within = [_line("in sessions", "the visits only, from each customer's first word:"), *_overlaps(whole)]
        within += _habits(whole, config)
    return [*_talk(collector), *within, *said, _sessions(collector, config)]


def _talk(collector: ReportCollector) -> list[str]:
    rep_s, customer_s, share = collector.talk_s(Party.REP), collector.talk_s(Party.CUSTOMER), collector.rep_share()
    # a person reads "0.0 %" as "the rep never spoke"; the JSON says null
    shown = f"{100 * share:7.1f} %" if share is not None else "      -   (nobody spoke)"
    both = f"{collector.overlap_s():7.1f} s (both at once)"
    return [
        _line("rep talk", f"{rep_s:7.1f} s"),
        _line("customer talk", f"{customer_s:7.1f} s"),
        _line("overlap", both),
        _line("rep share", shown),
    ]


def _overlaps(whole: SessionSummary) -> list[str]:
    by_rep, by_customer = whole.interruptions_by_rep, whole.interruptions_by_customer
    interruptions = _by_party(
        by_rep,
        by_customer,
        _successful(by_rep, whole.successful_interruptions_by_rep),
        _successful(by_customer, whole.successful_interruptions_by_customer),
    )
    rate_per_min = whole.rep_backchannels_per_min  # metrics.md's active-listening figure: per minute of customer speech
    per_min = f" ({rate_per_min:.1f} per minute of customer speech)" if rate_per_min is not None else ""
    backchannels = _by_party(whole.backchannels_by_rep, whole.backchannels_by_customer, per_min)
    return [_line("interruptions", interruptions), _line("backchannels", backchannels)]


def _successful(count: int, successful: int) -> str:
    """How many took the floor (metrics.md's successful interruption); nothing to say of none."""
    return f" ({successful} successful)" if count else ""


def _by_party(by_rep: int, by_customer: int, rep_note: str = "", customer_note: str = "") -> str:
    return f"{by_rep:3d} by rep{rep_note}, {by_customer} by customer{customer_note}"


def _habits(whole: SessionSummary, config: AnalyticsConfig) -> list[str]:
    floors = (
        f"{whole.monologues:3d} by rep (longest {whole.longest_monologue_s:.1f} s), "
        f"{whole.stories} customer stories (longest {whole.longest_story_s:.1f} s)"
    )
    silences = f"{whole.long_silences:3d} of {config.long_silence_s:g} s or more"
    if whole.long_silences:
        silences += f", the longest {whole.longest_silence_s:.1f} s"
    times = whole.dominance_episodes
    dominance = f"{whole.dominance_s:5.1f} s, {times} time{'' if times == 1 else 's'}"
    return [
        _line("monologues", floors),
        _line("response gap", _gaps(whole, config)),
        _line("switches", f"{whole.switches_per_min:5.1f} per minute"),
        _line("long silences", silences),
        _line("dominating", dominance),
        _line("premature", f"{whole.premature_starts:3d} starts"),
    ]


def _gaps(whole: SessionSummary, config: AnalyticsConfig) -> str:
    """The customer-to-rep gaps: median, 10th to 90th percentile, and how many were patient."""
    median, p10, p90 = whole.response_gap_median_s, whole.response_gap_p10_s, whole.response_gap_p90_s
    if whole.response_gaps == 0 or median is None or p10 is None or p90 is None:
        return "  -   (the rep never took over from the customer)"
    return (
        f"median {median:.2f} s, 10th to 90th percentile {p10:.2f} to {p90:.2f} s; "
        f"{whole.patient_gaps} of {whole.response_gaps} patient ({config.patient_gap_s:g} s or more)"
    )


def _cues(cues: CueFigures, whole: SessionSummary) -> list[str]:
    """The content cues: counts and rates, as the report has them (no word is kept to print)."""
    wait_s = whole.question_wait_median_s
    kinds = f"{cues.rep_open_questions} open, {cues.rep_closed_questions} closed"
    follow_ups, stacked = cues.rep_followups, whole.stacked_questions
    lines = [
        _line("words", f"{cues.rep_words:3d} by rep, {cues.customer_words} by customer (counted, not kept)"),
        _line("questions", f"{cues.rep_questions:3d} by rep ({kinds}), {follow_ups} following up, {stacked} stacked"),
        _line("question wait", f"{wait_s:5.1f} s median" if wait_s is not None else "  -   (no question answered)"),
        _line("echoes", f"{cues.rep_echoes:3d}, and {cues.rep_summaries} summaries"),
        _line("empathy", f"{cues.rep_acknowledgements:3d} acknowledgements"),
        _line("action plans", f"{cues.rep_action_plans:3d}"),
        _line("speaking rate", _rate(cues)),
    ]
    if cues.asr_partial:
        skipped = f"skipped {cues.asr_skipped_s:.1f} s under load: the counts miss what was said then"
        lines.append(_line("recogniser", skipped))
    return lines


def _rate(cues: CueFigures) -> str:
    """Words and fillers per minute of the rep's heard talk, or why there is no rate."""
    if cues.rep_wpm is None or cues.rep_fillers_per_min is None:
        return f"  -   (under {RATE_MIN_TALK_S:g} s of the rep's talk heard); {cues.rep_fillers} fillers"
    low, high = WPM_GUIDANCE
    return (
        f"{cues.rep_wpm:5.0f} words per minute (guidance {low} to {high}); "
        f"{cues.rep_fillers} fillers, {cues.rep_fillers_per_min:.1f} per minute"
    )


def _sessions(collector: ReportCollector, config: AnalyticsConfig) -> str:
    # a session under session_min_speech_s publishes no summary: "0 summarized" alone read as no visitor at all
    started, summarized = sessions_started(collector.events), len(collector.sessions)
    need = f"{config.session_min_speech_s:g} s"
    return _line("sessions", f"{started} started, {summarized} summarized (a summary needs {need} of speech)")


def _line(label: str, text: str) -> str:
    return f"{label:<{LABEL_CHARS}}{text}"
