"""Decision rules tried on the turn model's probabilities, without retraining or re-running the model.

    python -m bench.rules [--overlaps separate] [--split heldout] [--variants 6] [--config FILE]

The model's per-party speech probabilities become activity through one rule
(``listener.turns.base.decide_activity``: on at ``vad_on``; a party speaking
alone stays on down to ``vad_off``). This bench runs the front end and the
model once per case, keeps everything the model stage emits, then re-decides
the activity by each rule below and feeds the result through the device's own
timeline and analytics, scored like ``bench.accuracy`` (F1, attribution,
rep-share error, interruption F1).

Rules: the shipped one (which must give back the stage's own decisions:
the bench counts the frames where it does not), and *sustained overlap*:
once both parties have been on together for ``hold`` steps, each stays on
down to ``low`` (the quieter voice of long talk over talk is heard in bursts
under the shipped rule); *joining*: a party comes in over, or stays on
beside, one already speaking at a lower threshold than ``vad_on``; and
*hangover*: a party stays on for a few steps after the shipped rule lets it
go (the RTTM's turns run on past a talker's last sound), either always or only
while the other party is silent. Prints figures, asserts nothing.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import interruptions as events
from bench.accuracy import BenchError, score_report
from bench.boundaries import analytics_config, case_parser, prepared
from bench.heldout import HeldoutError
from bench.scoring import CaseScore, summarize
from listener.analytics.report import AudioInfo, ReportCollector
from listener.analytics.stage import ConversationAnalytics
from listener.analytics.summary import all_sessions
from listener.analytics.timeline import Timeline
from listener.audio.wav import WavSource
from listener.config import Config, geometry
from listener.events import ActivityFrames, Event
from listener.pipeline import EventLog, Pipeline
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns import activity_stage
from listener.turns.base import decide_activity
from listener.turns.spec import load_spec, model_path

FRAMES_PER_STEP = 2  # the model decides per 20 ms step; ActivityFrames repeat it per 10 ms frame
State = tuple[bool, bool]
# (last decision, steps both have been on, rep probability, customer probability) -> decision
Rule = Callable[[State, int, float, float], State]
SUSTAINED = ((5, 0.45), (5, 0.3), (15, 0.3), (25, 0.3), (25, 0.2))
JOINING = (0.6, 0.5)
HANGOVER_STEPS = (2, 6, 15)


def shipped_rule(on: float, off: float) -> Rule:
    return lambda was, both, rep, cust: decide_activity(was, rep, cust, on, off)


def sustained_rule(on: float, off: float, hold_steps: int, low: float) -> Rule:
    def rule(was: State, both: int, rep: float, cust: float) -> State:
        if was[0] and was[1] and both >= hold_steps:
            return rep >= low, cust >= low
        return decide_activity(was, rep, cust, on, off)

    return rule


def joining_rule(on: float, off: float, join_on: float) -> Rule:
    """A party comes in over (or stays on beside) one already speaking at ``join_on`` instead of ``on``."""

    def rule(was: State, both: int, rep: float, cust: float) -> State:
        shipped = decide_activity(was, rep, cust, on, off)
        return shipped[0] or (was[1] and rep >= join_on), shipped[1] or (was[0] and cust >= join_on)

    return rule


def hangover_rule(on: float, off: float, steps: int, only_alone: bool) -> Rule:
    """A party stays on ``steps`` steps after the shipped rule drops it (``only_alone``: while the other is off).

    Keeps its own count of steps left, so each case needs a rule of its own.
    """
    left = [0, 0]

    def rule(was: State, both: int, rep: float, cust: float) -> State:
        out = list(decide_activity(was, rep, cust, on, off))
        for i in (0, 1):
            if out[i]:
                left[i] = steps
            elif was[i] and left[i] > 0 and not (only_alone and out[1 - i]):
                left[i] -= 1
                out[i] = True
            else:
                left[i] = 0
        return out[0], out[1]

    return rule


class Redecide:
    """Each ActivityFrames with ``rule``'s decisions, from the probabilities the model gave.

    Not a stage: a pipeline hands every event to every stage, so the model's
    own decisions would reach the timeline beside these.
    """

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.state: State = (False, False)
        self.both = 0
        self.changed_frames = 0

    def __call__(self, event: Event) -> Event:
        if not isinstance(event, ActivityFrames):
            return event
        rep, cust = event.rep_active.copy(), event.customer_active.copy()
        for i in range(0, len(rep), FRAMES_PER_STEP):
            self.state = self.rule(self.state, self.both, float(event.rep_prob[i]), float(event.customer_prob[i]))
            self.both = self.both + 1 if all(self.state) else 0
            rep[i : i + FRAMES_PER_STEP], cust[i : i + FRAMES_PER_STEP] = self.state
        self.changed_frames += int((rep != event.rep_active).sum() + (cust != event.customer_active).sum())
        return dataclasses.replace(event, rep_active=rep, customer_active=cust)


@dataclass(frozen=True, slots=True)
class ModelRun:
    """What the model stage emitted on one case, and what the report needs of the audio."""

    truth: dict[str, Any]
    emitted: list[Event]
    info: AudioInfo


def model_run(wav: Path, truth: dict[str, Any], config: Config) -> ModelRun:
    geo, keep = geometry(config), EventLog()
    source = WavSource(wav, geo, block_ms=1000)
    with source, Pipeline([SpatialFrontEnd(config, geo), activity_stage(config), keep]) as pipe:
        info = AudioInfo(duration_s=source.duration_s, channels=source.channels, sample_rate_hz=source.sample_rate_hz)
        pipe.run(source)
    return ModelRun(truth, keep.events, info)


def decided(run: ModelRun, rule: Rule, config: Config) -> tuple[dict[str, object], int]:
    """The analyze report with ``rule``'s decisions, and the frames where they differ from the stage's."""
    redecide, collector = Redecide(rule), ReportCollector()
    with Pipeline([Timeline(config), ConversationAnalytics(config), collector]) as pipe:
        for event in run.emitted:
            pipe.feed(redecide(event))
    whole = all_sessions(collector.segments, collector.events, collector.end_s, config.analytics)
    return collector.report(run.info, whole), redecide.changed_frames


def score(runs: Sequence[ModelRun], make_rule: Callable[[], Rule], config: Config) -> str:
    """One line of figures over ``runs``, each case decided by a fresh ``make_rule()``."""
    scores: list[CaseScore] = []
    found: list[events.EventScore] = []
    changed = 0
    for run in runs:
        report, frames = decided(run, make_rule(), config)
        scores.append(score_report(run.truth, report))
        found.append(events.score_events(run.truth, report, config))
        changed += frames
    s, m = summarize(scores), events.pooled(found).matches["interruption"]
    return (
        f"F1 {s.pooled_f1_mean:.3f}  attribution {s.attribution:.3f}  share error {s.mean_share_error_pp:5.2f}"
        f"  interruption F1 {m.f1 or 0.0:.3f} (tp {m.tp}, fp {m.fp}, fn {m.fn})  frames changed {changed}"
    )


def thresholds(config: Config) -> tuple[float, float]:
    """The model's own activity thresholds (its sidecar's), which the shipped rule decides by."""
    if not config.turn_model.enabled:
        raise BenchError("the config disables the turn model; these rules decide from its probabilities")
    spec = load_spec(model_path(config))
    return spec.vad_on, spec.vad_off


def _truth(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def main(argv: Sequence[str] | None = None) -> int:
    args = case_parser("python -m bench.rules", __doc__.split("\n")[0]).parse_args(argv)
    try:
        config = analytics_config(args)
        folder, manifest = prepared(args)
        on, off = thresholds(config)
        runs = [model_run(folder / e["wav"], _truth(folder / e["truth"]), config) for e in manifest["cases"]]
    except (BenchError, HeldoutError) as exc:
        print(f"bench.rules: {exc}", file=sys.stderr)
        return 2
    print(f"{len(runs)} cases ({args.split}, {args.overlaps} overlaps); model thresholds on {on} / off {off}")
    for label, make_rule in rules(on, off):
        print(f"  {label:<36} {score(runs, make_rule, config)}")
    return 0


def rules(on: float, off: float) -> list[tuple[str, Callable[[], Rule]]]:
    """Every rule the bench tries, labelled; the shipped one first."""
    out: list[tuple[str, Callable[[], Rule]]] = [("shipped rule", lambda: shipped_rule(on, off))]
    for hold, low in SUSTAINED:
        out.append((f"sustained overlap {hold * 20:3d} ms, off {low}", partial(sustained_rule, on, off, hold, low)))
    for join_on in JOINING:
        out.append((f"joining over the other at {join_on}", partial(joining_rule, on, off, join_on)))
    for steps in HANGOVER_STEPS:
        for alone in (False, True):
            label = f"hangover {steps * 20:3d} ms{', speaking alone' if alone else ''}"
            out.append((label, partial(hangover_rule, on, off, steps, alone)))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
