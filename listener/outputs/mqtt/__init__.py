"""Anonymized metrics over MQTT, with an on-disk spool so that nothing measured is lost.

Topics under ``<topic_prefix>/<device_id>/``: ``status``, ``info``, ``state``
(retained), ``metrics``, ``event``, ``session``; Home Assistant discovery
under ``<discovery_prefix>/device/<device_id>/config``. See
``docs/integrations/mqtt.md`` and ``listener/data/asyncapi.yaml``.
"""

from listener.outputs.mqtt.stage import MqttStage

__all__ = ["MqttStage"]
