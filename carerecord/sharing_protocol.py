"""The partnership's information sharing protocol, one event per adopted version."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from carerecord import errors, validation
from carerecord.protocol import Protocol, parse_protocol

_NAMESPACE = uuid5(NAMESPACE_URL, "https://carerecord.example/protocol")


class SharingProtocol(Aggregate):
    """The versions of one partnership's protocol. The newest adopted version is in force."""

    class Established(Aggregate.Created):
        partnership: str
        by: str
        at: datetime

    @event(Established)
    def __init__(self, partnership: str, by: str, at: datetime) -> None:
        self.partnership = partnership
        self.versions: list[int] = []
        self.current_document: dict[str, Any] | None = None

    @staticmethod
    @cache  # asked on every read (the protocol in force); uuid5 hashes each time
    def id_for(partnership: str) -> UUID:
        return uuid5(_NAMESPACE, partnership)

    @classmethod
    def establish(cls, *, partnership: str, by: str, at: datetime) -> SharingProtocol:
        return cls._create(
            cls.Established, id=cls.id_for(partnership), partnership=partnership, by=by, at=at
        )

    class VersionAdopted(Aggregate.Event):
        version: int
        document: dict[str, Any]
        content_hash: str
        by: str
        at: datetime

    @event(VersionAdopted)
    def _version_adopted(
        self, version: int, document: dict[str, Any], content_hash: str, by: str, at: datetime
    ) -> None:
        self.versions.append(version)
        self.current_document = document

    def adopt(self, document: dict[str, Any], *, by: str, at: datetime) -> Protocol:
        """Adopt a new version; it must parse, belong to this partnership and be newer."""
        protocol = check_document(document)
        if protocol.partnership != self.partnership:
            raise errors.InvalidProtocol(field="partnership", reason="other_partnership")
        if self.versions and protocol.version <= self.versions[-1]:
            raise errors.ProtocolVersionNotNewer(version=protocol.version)
        self._version_adopted(protocol.version, document, protocol.content_hash, by, at)
        return protocol

    @property
    def current(self) -> Protocol | None:
        return None if self.current_document is None else parse_protocol(self.current_document)


def check_document(document: dict[str, Any]) -> Protocol:
    """A protocol document about to be adopted: parsed, and its text checked as all free text
    is (``validation.check_characters``). Only new versions are checked for characters:
    versions already adopted are parsed as they were accepted."""
    try:
        validation.check_strings(document, field="document")
    except errors.InvalidText as exc:
        raise errors.InvalidProtocol(**exc.fields) from None
    return parse_protocol(document)
