"""listener: on-device active-listening feedback for counter conversations."""

__version__ = "0.1.0"
