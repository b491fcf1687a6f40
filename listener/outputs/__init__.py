"""Outputs driven by analytics events: LEDs, MQTT."""
