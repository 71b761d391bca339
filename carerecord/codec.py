"""One JSON codec for the value objects events carry (``carerecord.values``).

The stored form is fixed by the golden stored-event tests: a value's fields in
declaration order; enums as their values; datetimes and dates in ISO form; sets as
sorted lists; nested values as their own JSON. cattrs generates each type's
converter once, from its fields' types, so adding a field to a value is one line.
A value decodes from a record that lacks an optional field (as written before the
field existed) with that field ``None``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from cattrs import Converter

# Stored values were validated when they were written: decoding them needs no
# error collection (``detailed_validation``), and enums decode by a lookup.
_converter = Converter(detailed_validation=False)
_converter.register_unstructure_hook(datetime, datetime.isoformat)
_converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
_converter.register_unstructure_hook(date, date.isoformat)
_converter.register_structure_hook(date, lambda value, _: date.fromisoformat(value))


def _register_enums(type_: Any) -> None:
    """Decode the enums in ``type_`` (a field's type) by a lookup of their values.

    Registered per enum class: the vocabulary's enums are ``str`` subclasses, which
    cattrs would otherwise decode by calling the class."""
    if isinstance(type_, type) and issubclass(type_, Enum):
        members = {member.value: member for member in type_}
        _converter.register_structure_hook(type_, lambda value, _: members[value])
    elif is_dataclass(type_):
        for field_type in typing.get_type_hints(type_).values():
            _register_enums(field_type)
    for argument in typing.get_args(type_):
        _register_enums(argument)


def _sorted_set(value: frozenset[Any]) -> list[Any]:
    return sorted(item.value if isinstance(item, Enum) else item for item in value)


def _is_set(type_: Any) -> bool:
    return typing.get_origin(type_) is frozenset


_converter.register_unstructure_hook_func(_is_set, _sorted_set)


class _Codec:
    """The generated converters of one value type."""

    __slots__ = ("structure", "unstructure")

    def __init__(self, cls: type[Any]) -> None:
        _register_enums(cls)
        hints = typing.get_type_hints(cls)
        optional = {
            f.name: None
            for f in fields(cls)
            if f.default is MISSING
            and f.default_factory is MISSING
            and types.NoneType in typing.get_args(hints[f.name])
        }
        unstructure = _converter.get_unstructure_hook(cls)
        structure = _converter.get_structure_hook(cls)
        self.unstructure: Callable[[Any], dict[str, Any]] = unstructure
        if optional:
            count = len(fields(cls))

            def structure_tolerant(data: dict[str, Any]) -> Any:
                if len(data) < count:
                    data = optional | data
                return structure(data, cls)

            self.structure: Callable[[dict[str, Any]], Any] = structure_tolerant
        else:
            self.structure = lambda data: structure(data, cls)


_CODECS: dict[type[Any], _Codec] = {}


def codec(cls: type[Any]) -> _Codec:
    """``cls``'s converters (generated on first use)."""
    found = _CODECS.get(cls)
    if found is None:
        found = _CODECS[cls] = _Codec(cls)
    return found
