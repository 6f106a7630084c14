"""Type stub of the optional compiled module built from ``_accel.c``."""

from typing import Any

def plain_json(value: Any, max_depth: int, /) -> bool: ...
