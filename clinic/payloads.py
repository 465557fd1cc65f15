"""How a typed event payload (``clinic.contracts.EventPayload``) becomes the JSON object the
outbox stores, and back, checking every field against its declared type both ways.

No Django imports. The JSON of each type is what the producers wrote by hand before payloads
were typed (version 1 of every event), so events stored before and after read the same:

- ``UUID`` → its text; ``datetime`` and ``date`` → ISO 8601 (``isoformat()``); ``Decimal`` →
  its text; an enum → its value; a tuple → a list; a dataclass → an object of its fields;
  ``X | None`` → null or X; ``str``, ``int``, ``bool``, ``float`` as they are; ``dict[str, Any]``
  → the object as it is (it must be JSON already).

Decoding is strict: a key the contract does not declare, a declared key missing (unless its
field has a default) or a value of the wrong type raises ``InvalidEvent``; nothing is guessed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from clinic.errors import FieldProblem, InvalidEvent

P = TypeVar("P")

_SCALARS: tuple[type, ...] = (str, int, bool, float)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def fields_of(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    """The dataclass fields of ``cls`` with their resolved types, in declaration order."""
    hints = _hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def encode(payload: object) -> dict[str, Any]:
    """The JSON object of a payload dataclass. Raises InvalidEvent when a field holds a value of
    another type than it declares."""
    return _encode_dataclass(payload, path="")


def decode(cls: type[P], data: Any) -> P:
    """The payload of type ``cls`` that the JSON object ``data`` holds. Raises InvalidEvent."""
    return typing.cast(P, _decode_dataclass(cls, data, path=""))


def _problem(path: str, message: str) -> InvalidEvent:
    where = path or "payload"
    return InvalidEvent(
        f"The event payload does not match its contract: {where} {message}.", [FieldProblem(where, message)]
    )


def _encode_dataclass(value: object, *, path: str) -> dict[str, Any]:
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise _problem(path, f"must be a dataclass instance, not {type(value).__name__}")
    return {
        f.name: _encode(getattr(value, f.name), hint, path=_join(path, f.name)) for f, hint in fields_of(type(value))
    }


def _encode(value: Any, hint: Any, *, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            if type(None) in options:
                return None
            raise _problem(path, "must not be null")
        (inner,) = [o for o in options if o is not type(None)]  # only "X | None" is supported
        return _encode(value, inner, path=path)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise _problem(path, f"must be a tuple, not {type(value).__name__}")
        (item, _ellipsis) = typing.get_args(hint)
        return [_encode(v, item, path=f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _problem(path, f"must be a dict, not {type(value).__name__}")
        try:
            copied: dict[str, Any] = json.loads(json.dumps(value))
        except (TypeError, ValueError) as exc:
            raise _problem(path, f"must hold JSON only ({exc})") from exc
        return copied
    if hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, hint):
            raise _problem(path, f"must be {hint.__name__}, not {type(value).__name__}")
        return _encode_dataclass(value, path=path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not isinstance(value, hint):
            raise _problem(path, f"must be {hint.__name__}, not {type(value).__name__}")
        return value.value
    if hint in (UUID, datetime, date, Decimal):
        if not isinstance(value, hint) or (hint is date and isinstance(value, datetime)):
            raise _problem(path, f"must be {hint.__name__}, not {type(value).__name__}")
        return str(value) if hint in (UUID, Decimal) else value.isoformat()
    if hint in _SCALARS:
        if type(value) is not hint and not (hint is float and type(value) is int):
            raise _problem(path, f"must be {hint.__name__}, not {type(value).__name__}")
        return value
    raise _problem(path, f"has a type events cannot carry ({hint!r})")


def _decode_dataclass(cls: type, data: Any, *, path: str) -> object:
    if not isinstance(data, dict):
        raise _problem(path, f"must be an object, not {type(data).__name__}")
    declared = fields_of(cls)
    unknown = sorted(set(data) - {f.name for f, _hint in declared})
    if unknown:
        raise _problem(path, f"has keys its contract does not declare: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for f, hint in declared:
        if f.name in data:
            values[f.name] = _decode(data[f.name], hint, path=_join(path, f.name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _problem(_join(path, f.name), "is missing")
    return cls(**values)


def _decode(value: Any, hint: Any, *, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            if type(None) in options:
                return None
            raise _problem(path, "must not be null")
        (inner,) = [o for o in options if o is not type(None)]
        return _decode(value, inner, path=path)
    if origin is tuple:
        if not isinstance(value, list):
            raise _problem(path, f"must be a list, not {type(value).__name__}")
        (item, _ellipsis) = typing.get_args(hint)
        return tuple(_decode(v, item, path=f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _problem(path, f"must be an object, not {type(value).__name__}")
        return value
    if hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, path=path)
    try:
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return hint(value)
        if hint in (UUID, datetime, date, Decimal):
            if not isinstance(value, str):
                raise _problem(path, f"must be text, not {type(value).__name__}")
            if hint is UUID:
                return UUID(value)
            if hint is Decimal:
                return Decimal(value)
            return datetime.fromisoformat(value) if hint is datetime else date.fromisoformat(value)
    except (ValueError, InvalidOperation) as exc:
        raise _problem(path, f"is not a valid {hint.__name__}: {value!r}") from exc
    if hint in _SCALARS:
        if type(value) is not hint and not (hint is float and type(value) is int):
            raise _problem(path, f"must be {hint.__name__}, not {type(value).__name__}")
        return value
    raise _problem(path, f"has a type events cannot carry ({hint!r})")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
