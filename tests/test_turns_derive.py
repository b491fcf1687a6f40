"""The turn decisions read off a voice-activity projection (listener/turns/derive.py), against its stated rules."""

from __future__ import annotations

import numpy as np
import pytest

from listener.turns import derive

EDGES_S = (0.0, 0.2, 0.6, 1.2, 2.0)  # the shipped model's future bins (sidecar ``output.bin_edges_s``)


def futures(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (rep, customer) projections, 40 frames of 4 bins, then a frame where neither is projected to speak."""
    rng = np.random.default_rng(seed)
    rep, customer = rng.random((2, 41, 4)).astype(np.float32)
    rep[-1] = customer[-1] = 0.0
    return rep, customer


def test_p_next_is_the_partys_share_of_the_projected_seconds_of_speech() -> None:
    """``p_next(a) = E_a / (E_a + E_b)``: the two parties' chances add up to one, and even odds when neither speaks."""
    rep, customer = futures(2)
    widths = np.diff(EDGES_S)
    rep_s, customer_s = rep[:-1] @ widths, customer[:-1] @ widths
    rep_next = derive.p_next(rep, customer, EDGES_S)
    np.testing.assert_allclose(rep_next[:-1], rep_s / (rep_s + customer_s), atol=1e-3)
    np.testing.assert_allclose(rep_next + derive.p_next(customer, rep, EDGES_S), 1.0, atol=1e-5)
    assert rep_next[-1] == pytest.approx(0.5)


@pytest.mark.parametrize("batch", [False, True])
def test_at_the_default_thresholds_the_outlook_is_the_plain_decisions(batch: bool) -> None:
    """Thresholds of 0.5 leave every probability as it was: models/tasks.py scores raw probabilities through
    ``outlook`` with the defaults to choose the thresholds, and it computes what the single functions do."""
    rep, customer = futures(3)
    out = np.concatenate([np.zeros((rep.shape[0], 2), np.float32), rep, customer], axis=1)
    view = derive.Outlooker(EDGES_S)(out) if batch else derive.outlook(out, EDGES_S)
    for party, (own, other) in enumerate([(rep, customer), (customer, rep)]):
        np.testing.assert_allclose(view.p_shift[party], derive.p_next(other, own, EDGES_S), atol=1e-5)
        np.testing.assert_allclose(view.p_continues[party], derive.p_continues(own, EDGES_S), atol=1e-5)
        np.testing.assert_allclose(view.p_resumes[party], derive.p_resumes(own, EDGES_S), atol=1e-5)
    assert view.p_shift[0][-1] == pytest.approx(0.5)  # nobody projected to speak: either may be next
