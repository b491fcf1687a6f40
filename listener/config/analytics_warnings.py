"""Analytics thresholds that another makes unreachable: said (check-config, the start of run).

The customer is silent through a mutual silence, and through a response gap (their last word to the rep's
next): once either lasts ``session_gap_s`` the session has ended in it, and the speech after it begins the
next one. So a threshold at or above the session gap switches its measure off, every count reading 0 as
if none had happened (checked with ``listener analyze`` on a recording with an 8.4 s silence in it). A
warning, not an error: the file runs, only not as its writer thinks.

So does an ``interruption_min_s`` below ``backchannel_max_s``: a sound over the holder's speech that reaches
``interruption_min_s`` is an interruption, and the bound goes to the longer event (docs/metrics.md), so the
longer backchannels over speech are counted as interruptions (``interruption_min_s = 0.5`` alone: the bundled
sample's rep backchannels 1 to 0, its interruptions 1 to 2, checked with ``listener analyze``).
"""

from __future__ import annotations

from listener.config.schema import AnalyticsConfig
from listener.config.warning import ConfigWarning
from listener.errors import toml_value

# key, what is then never counted, and the customer silence it measures
_WITHIN_A_SESSION = (
    ("long_silence_s", "no long silence is ever counted", "a mutual silence is a customer silence"),
    ("patient_gap_s", "no response gap is ever patient", "the customer is silent through a response gap"),
)


def unreachable_thresholds(analytics: AnalyticsConfig) -> list[ConfigWarning]:
    """One warning per threshold at or above ``session_gap_s``, which no silence inside a session reaches."""
    gap_s = analytics.session_gap_s
    said = []
    for key, lost, why in _WITHIN_A_SESSION:
        value = getattr(analytics, key)
        if value >= gap_s:
            problem = (
                f"analytics.{key} = {toml_value(value)}: not below analytics.session_gap_s = {toml_value(gap_s)}, "
                f"so {lost} ({why}, and a silence of session_gap_s ends the session, so none of {key} can count)"
            )
            said.append(ConfigWarning(problem, f"set it below {gap_s:g} s, or raise session_gap_s"))
    return said


def backchannels_taken(analytics: AnalyticsConfig) -> list[ConfigWarning]:
    """A warning where ``interruption_min_s`` is below ``backchannel_max_s``: the backchannels over the holder's
    speech from the one to the other are interruptions instead. Equal (the defaults) is the rule as defined."""
    least_s, longest_s = analytics.interruption_min_s, analytics.backchannel_max_s
    if least_s >= longest_s:
        return []
    problem = (
        f"analytics.interruption_min_s = {toml_value(least_s)}: below analytics.backchannel_max_s = "
        f"{toml_value(longest_s)}, so a sound over the holder's speech that lasts {least_s:g} s is an interruption "
        f"and never a backchannel (the longer event takes it): backchannels of {least_s:g} to {longest_s:g} s over "
        "speech are counted as interruptions, and the rep's backchannel figure drops"
    )
    fix = f"set interruption_min_s to {longest_s:g} or more, or lower backchannel_max_s to {least_s:g}"
    return [ConfigWarning(problem, fix)]
