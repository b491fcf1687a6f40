"""Assemble the pipeline's stages from the configuration."""

from __future__ import annotations

from listener.analytics.stage import ConversationAnalytics
from listener.analytics.timeline import Timeline
from listener.config import ArrayGeometry, Config
from listener.pipeline import Stage
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns import activity_stage


def analysis_stages(config: Config, geometry: ArrayGeometry, *, real_time: bool = False) -> list[Stage]:
    """Audio in, per-party timeline out: the part every command shares.

    ``real_time``: the source's audio comes as it happens (the array, a paced replay); the default is
    a file read flat out. Only the recogniser's overflow depends on it (``[asr] overflow = "auto"``).
    """
    stages: list[Stage] = [
        SpatialFrontEnd(config, geometry),
        activity_stage(config),  # the turn model (turn_model.enabled), else the heuristic decider
        Timeline(config),
    ]
    if config.asr.enabled:  # before the analytics, which use its questions
        from listener.transcription.stage import TranscriptionStage

        stages.append(TranscriptionStage(config, geometry, real_time=real_time))
    stages.append(ConversationAnalytics(config))  # the metrics of shared/metrics.md, decided live
    return stages
