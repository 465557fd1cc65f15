"""Units of measure: is OBX-6 valid UCUM (https://ucum.org/ucum, the grammar of section 2)?

ucumvert parses against the UCUM grammar and atom tables; results are cached per unit string, as
a lab sends the same few dozen units all day.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_parser: Any = None


def _ucum() -> Any:
    global _parser
    if _parser is None:
        from ucumvert.parser import get_ucum_parser

        _parser = get_ucum_parser()
    return _parser


@lru_cache(maxsize=4096)
def is_ucum(unit: str) -> bool:
    """True when ``unit`` is a valid UCUM expression (case-sensitive, as UCUM is)."""
    if not unit or len(unit) > 100 or any(ch.isspace() for ch in unit):
        return False
    try:
        _ucum().parse(unit)
    except Exception:  # lark raises several error types for "not in the grammar"
        return False
    return True
