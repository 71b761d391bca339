"""An orjson-based transcoder for stored events.

orjson serialises JSON-native values, enums (as their values) and UUIDs (as
strings) itself; datetimes, dates and the care record's value objects are passed
through to ``_default`` and tagged as ``{"_type_": name, "_data_": ...}`` so they
decode to the same objects. Rule for event classes: a top-level event attribute is
a JSON-native value, a datetime or date, or a registered value object; enums and
UUIDs live inside value objects (which restore them) or are stored as strings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

from carerecord.values import JSON_VALUE_TYPES

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_TYPE = "_type_"
_DATA = "_data_"


class OrjsonTranscoder(Transcoder):
    """Encodes event state as compact JSON bytes with tagged custom types."""

    def __init__(self) -> None:
        self._encoders: dict[type[Any], tuple[str, Callable[[Any], Any]]] = {
            datetime: ("datetime", datetime.isoformat),
            date: ("date", date.isoformat),
        }
        self._decoders: dict[str, Callable[[Any], Any]] = {
            "datetime": datetime.fromisoformat,
            "date": date.fromisoformat,
        }
        for value_type in JSON_VALUE_TYPES:
            self.register_value(value_type)

    def register_value(self, value_type: type[Any]) -> None:
        name: str = value_type.json_name
        self._encoders[value_type] = (name, value_type.to_json)
        self._decoders[name] = value_type.from_json

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self._default, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        return self._restore(orjson.loads(data))

    def _default(self, obj: Any) -> dict[str, Any]:
        try:
            name, encode = self._encoders[type(obj)]
        except KeyError:
            raise TypeError(f"Type is not JSON serialisable: {type(obj).__name__}") from None
        return {_TYPE: name, _DATA: encode(obj)}

    def _restore(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 2 and _TYPE in value and _DATA in value:
                return self._decoders[value[_TYPE]](value[_DATA])
            for key, item in value.items():
                if isinstance(item, (dict, list)):
                    value[key] = self._restore(item)
            return value
        if isinstance(value, list):
            return [self._restore(v) if isinstance(v, (dict, list)) else v for v in value]
        return value
