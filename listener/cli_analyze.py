"""``listener analyze``: a recording through the analysis stages, its report printed (and drawn with --plot)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from listener import strict_json
from listener.cli_parsing import command_config
from listener.config import Config, geometry
from listener.console import output_may_fail
from listener.errors import shown_path

if TYPE_CHECKING:
    from listener.analytics.report import AudioInfo, ReportCollector
    from listener.transcription.summary import CueTally

# The analysis stack (scipy, the spatial front end) is imported when the command runs, not with the command
# line: `leds-off`, run after every stop of the service, would take twice as long.


def cmd_analyze(args: argparse.Namespace) -> int:
    from listener.analytics.report import AudioInfo, ReportCollector
    from listener.audio.channel_watch import ChannelWatch
    from listener.audio.wav import WavSource
    from listener.pipeline import Pipeline
    from listener.service.build import analysis_stages
    from listener.transcription.summary import CueTally

    config = command_config(args.config)
    geo = geometry(config)
    if args.plot is not None:
        from listener.analytics.plot_checks import check_plot_path, require_matplotlib

        require_matplotlib()
        check_plot_path(args.plot)
    collector = ReportCollector()
    cues = [CueTally()] if config.asr.enabled else []
    source = WavSource(args.file, geo, block_ms=1000)
    watch = ChannelWatch(geo, recording=args.file)  # a recording with silent or copied channels is said
    analysis = analysis_stages(config, geo, real_time=source.realtime)  # flat out: the recogniser is waited for
    with source, Pipeline([watch, *analysis, *cues, collector]) as pipe:
        info = AudioInfo(duration_s=source.duration_s, channels=source.channels, sample_rate_hz=source.sample_rate_hz)
        source.warn_if_short()
        pipe.run(source)
    # the measurements first: a figure that cannot be written must not take them with it
    _print_analysis(collector, info, config, cues[0] if cues else None, as_json=args.json)
    if args.plot is not None:
        from listener.analytics.plot import plot_conversation

        segments, events = collector.segments, collector.events
        title = shown_path(args.file.name)  # a name that is not UTF-8 holds surrogates, which no font draws
        plot_conversation(segments, events, info.duration_s, args.plot, config.analytics, title=title)
    return 0


def _print_analysis(
    collector: ReportCollector, info: AudioInfo, config: Config, cues: CueTally | None, *, as_json: bool
) -> None:
    """The report as JSON, or as plain text. An output that fails (a reader gone, `| head`; a full disk) ends the
    printing, not the run: the --plot figure is still drawn, and main() says the failure afterwards."""
    from listener.analytics.plain import summary_lines
    from listener.analytics.summary import all_sessions

    whole = all_sessions(collector.segments, collector.events, collector.end_s, config.analytics)
    with output_may_fail():
        if as_json:
            # strict: a NaN would be written as NaN, which no JSON parser reads (null is "not defined")
            sys.stdout.write(strict_json.dumps(collector.report(info, whole, cues), "analyze --json") + "\n")
        else:
            figures = cues.metrics() if cues else None
            print("\n".join(summary_lines(collector, whole, config.analytics, figures)))
        sys.stdout.flush()
