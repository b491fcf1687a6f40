"""The turn-taking model: per-party activity and turn predictions from spatial evidence."""

from __future__ import annotations

from listener.config import Config
from listener.pipeline import Stage


def activity_stage(config: Config) -> Stage:
    """SpatialFrames -> ActivityFrames: the turn model when enabled, else the heuristic decider.

    Building the model stage checks its sidecar and opening it loads and runs
    its file, so a missing or corrupt model stops start-up (before the array
    opens) with a :class:`~listener.errors.ModelError`.
    """
    if config.turn_model.enabled:
        from listener.turns.onnx_model import OnnxTurnModel

        # a step that fails mid-run hands the stream to the heuristic decider, the fault shown (turns/fallback.py)
        return OnnxTurnModel(config, fall_back=True)
    from listener.spatial.decide import ActivityDecider

    return ActivityDecider(config)
