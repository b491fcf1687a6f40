"""Asserting that check-config refuses a config: the key the error blames and the words its message holds."""

from __future__ import annotations

import pytest

from listener.config import parse_config
from listener.errors import ConfigError


def rejected(data: dict[str, object], path: str, *words: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.path == path, str(info.value)
    for word in words:
        assert word in str(info.value)
    return info.value
