"""The sample timelines docs/metrics.md's figures are drawn from (listener.analytics.figures) show what their captions
and the page say: each, replayed through the analytics, decides the events its figure is there to show."""

from __future__ import annotations

import dataclasses

import pytest

from listener.analytics.figures import SAMPLES, Sample
from listener.events import (
    Backchannel,
    DominanceChanged,
    FloorChange,
    Interruption,
    LongSilence,
    PrematureStart,
    ResponseGap,
    SessionEnded,
)
from tests.analytics_timelines import CONFIG, CUST, REP, of, run

# what each figure shows, as its caption says it: (party, onset) and the event's own figures
SHOWN: dict[str, dict[str, list[tuple[object, ...]]]] = {
    "floor": {"backchannels": [(REP, 2.5), (REP, 5.0)], "floors": [(CUST, 0.5), (REP, 9.6)]},
    "backchannel": {"backchannels": [(REP, 2.0), (REP, 4.4)], "floors": [(CUST, 0.5)]},
    "interruption": {"interruptions": [(REP, 4.0, True), (REP, 11.0, False)]},
    "premature": {"premature": [(REP, 4.6)], "interruptions": []},
    "gaps": {"gaps": [(3.0, -0.5, False), (10.3, 0.3, False), (17.7, 1.2, True)]},
    "silence": {"long_silences": [(6.5, 3.5)], "gaps": [(5.4, 0.4, False)]},
    "dominance": {"dominance": [(True, 33.0, "share"), (False, 107.7, "share")]},
    "sessions": {"sessions": [(4.0, 30.0), (66.0, 95.0)]},
}


def shown(sample: Sample) -> dict[str, list[tuple[object, ...]]]:
    config = dataclasses.replace(CONFIG, analytics=dataclasses.replace(CONFIG.analytics, **sample.analytics))
    c = run(list(sample.segments), sample.duration_s, config)
    return {
        "backchannels": [(b.by, b.onset_s) for b in of(c, Backchannel)],
        "floors": [(f.by, f.onset_s) for f in of(c, FloorChange)],
        "interruptions": [(i.by, i.onset_s, i.successful) for i in of(c, Interruption)],
        "premature": [(p.by, p.onset_s) for p in of(c, PrematureStart)],
        "gaps": [(g.onset_s, g.gap_s, g.patient) for g in of(c, ResponseGap)],
        "long_silences": [(s.onset_s, s.duration_s) for s in of(c, LongSilence)],
        "dominance": [(d.dominating, d.onset_s, d.reason) for d in of(c, DominanceChanged)],
        "sessions": [(e.onset_s, e.end_s) for e in of(c, SessionEnded)],
    }


def test_every_figure_has_its_claims_checked() -> None:
    assert [s.name for s in SAMPLES] == list(SHOWN)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_a_figures_sample_decides_what_its_caption_shows(sample: Sample) -> None:
    decided = shown(sample)
    assert {k: decided[k] for k in SHOWN[sample.name]} == SHOWN[sample.name]
