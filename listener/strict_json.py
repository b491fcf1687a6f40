"""JSON as the outputs write it: numbers only where JSON has them.

Python's ``json`` writes a float that is NaN or infinite as ``NaN`` or ``Infinity``, which is not JSON: Home
Assistant's and Node-RED's parsers refuse the whole message. A figure that may be undefined (a median over no
response gaps) is ``None`` before it gets here, ``null`` in the message, as docs/integrations/mqtt.md promises;
:func:`defined` is the last guard for those. Anything else non-finite is refused, naming where it is.
"""

from __future__ import annotations

import json
import math
from typing import Any

from listener.errors import NonFiniteNumberError


def defined(value: float | None) -> float | None:
    """A figure that may be undefined: None (null) unless it is a finite number."""
    return value if value is not None and math.isfinite(value) else None


def dumps(tree: Any, where: str, **options: Any) -> str:
    """``tree`` as JSON; a NaN or infinite number in it raises :class:`NonFiniteNumberError`, naming its path."""
    try:
        return json.dumps(tree, allow_nan=False, **options)
    except ValueError:
        found = _non_finite(tree, "")
        if found is None:
            raise
        raise NonFiniteNumberError(where, *found) from None


def _non_finite(tree: Any, path: str) -> tuple[str, float] | None:
    """The first NaN or infinite number in ``tree`` and its path (``sessions[0].rep_talk_s``)."""
    if isinstance(tree, float) and not math.isfinite(tree):
        return path or "the value", tree
    if isinstance(tree, dict):
        items: Any = ((f"{path}.{key}" if path else str(key), value) for key, value in tree.items())
    elif isinstance(tree, list | tuple):
        items = ((f"{path}[{i}]", value) for i, value in enumerate(tree))
    else:
        return None
    return next((found for sub, value in items if (found := _non_finite(value, sub)) is not None), None)
