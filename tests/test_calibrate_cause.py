"""Why a calibration is not stored: the factor that pulled the confidence down most is the one named."""

from __future__ import annotations

import pytest

from listener.config import parse_config
from listener.service.calibrate import _refusal
from listener.service.calibrate.estimation import Calibration, CustomerFrom, Factors


def result(factors: Factors, speech_s: float, customer_from: CustomerFrom = "second talker") -> Calibration:
    return Calibration(0.0, 180.0, customer_from, factors, speech_s, rep_share=0.6)


@pytest.mark.parametrize(
    ("factors", "speech_s", "customer_from", "said"),
    [
        # two talkers clearly matched, most speech from elsewhere (the old guess: "not clearly at the configured")
        (Factors(1.0, 0.45, 1.0), 12.0, "second talker", "55 % of the speech came from scattered directions"),
        # short speech is said as such
        (Factors(0.5, 0.9, 0.95), 2.5, "second talker", "only 2.5 s of clear speech"),
        (Factors(1.0, 0.9, 0.4), 12.0, "second talker", "not clearly at the configured rep and customer"),
        (Factors(0.9, 0.45, 1.0), 4.5, "opposite the rep", "55 % of the speech came from scattered directions"),
    ],
)
def test_the_lowest_factor_is_the_cause(
    factors: Factors, speech_s: float, customer_from: CustomerFrom, said: str
) -> None:
    refusal = _refusal(parse_config({}), result(factors, speech_s, customer_from), force=False)
    assert refusal.startswith(f"low confidence ({factors.confidence:.2f}, below ")
    assert said in refusal and "--force" in refusal


def test_confidence_is_the_product_of_its_factors() -> None:
    assert Factors(0.5, 0.8, 0.5).confidence == 0.2
    assert Factors(1.0, 0.97).confidence == 0.97  # one talker: no matching to be unclear about
    assert _refusal(parse_config({}), result(Factors(0.5, 0.8, 0.5), 2.5), force=True) == ""
