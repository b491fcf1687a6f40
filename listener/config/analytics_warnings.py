"""Analytics thresholds that the session gap makes unreachable: said (check-config, the start of run).

The customer is silent through a mutual silence, and through a response gap (their last word to the rep's
next): once either lasts ``session_gap_s`` the session has ended in it, and the speech after it begins the
next one. So a threshold at or above the session gap switches its measure off, every count reading 0 as
if none had happened (checked with ``listener analyze`` on a recording with an 8.4 s silence in it). A
warning, not an error: the file runs, only not as its writer thinks.
"""

from __future__ import annotations

from listener.config.schema import AnalyticsConfig
from listener.errors import toml_value

# key, what is then never counted, and the customer silence it measures
_WITHIN_A_SESSION = (
    ("long_silence_s", "no long silence is ever counted", "a mutual silence is a customer silence"),
    ("patient_gap_s", "no response gap is ever patient", "the customer is silent through a response gap"),
)


def unreachable_thresholds(analytics: AnalyticsConfig) -> list[str]:
    """One warning per threshold at or above ``session_gap_s``, which no silence inside a session reaches."""
    gap_s = analytics.session_gap_s
    said = []
    for key, lost, why in _WITHIN_A_SESSION:
        value = getattr(analytics, key)
        if value >= gap_s:
            said.append(
                f"analytics.{key} = {toml_value(value)}: not below analytics.session_gap_s = {toml_value(gap_s)}, "
                f"so {lost} ({why}, and a silence of session_gap_s ends the session, so none of {key} can count); "
                f"set it below {gap_s:g} s, or raise session_gap_s"
            )
    return said
