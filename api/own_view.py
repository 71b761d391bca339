"""The person's own view, shared by GraphQL (``myRecord``, ``myAccessLog``) and the REST
export (``api.subject_access``): what is held about them and who has looked at it.

For a caller with a client token (the person, or an authorised representative to whom
the identity provider issued the person's subject-access token):

- what is held: every entry of their record except those withheld under a lawful
  exception the protocol names (the sharing policy's ``subject_access`` purpose,
  through the read repository like any other read). Whether anything was withheld is
  not said - saying so can itself defeat the exception (crime prevention, serious
  harm) - only that the law allows some information to be withheld;
- who looked: every access recorded against the record, in plain words
  (``carerecord.audit.plain``), including break-glass and auditors' reads;
- the export: both as one document (``export_document``), and a printable page of it
  (``render_html``: "the copy stays with the patient").

Every one of these reads is itself audited before the response leaves: the held
entries as a slice read (``subject_access.record`` / ``subject_access.export``,
replayable by the auditors), the access log shown as ``subject_access.access_log`` /
``subject_access.export_log``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from api.services import Services
from carerecord.access_log import AccessRecord, access_record, response_hash
from carerecord.audit.plain import plain_basis, plain_purpose
from carerecord.errors import NotPermitted
from carerecord.ids import ClientId, parse_client_id
from carerecord.protocol import Protocol
from carerecord.slice import SharedEntry
from carerecord.values import Viewer
from carerecord.vocab import Purpose, ViewerKind
from projections.audit.client import ClientAccess, client_access_records, in_words
from projections.lists.record import ClientSlice

RECORD = "subject_access.record"
ACCESS_LOG = "subject_access.access_log"
EXPORT = "subject_access.export"
EXPORT_LOG = "subject_access.export_log"
SUBJECT_ACCESS = Purpose.SUBJECT_ACCESS.value
WITHHELD_NOTE = (
    "The law allows some information to be withheld from a copy like this one - for "
    "example where showing it could cause serious harm, would identify another person "
    "who has not agreed, or would prejudice preventing or detecting crime. If you think "
    "something is missing, ask any of the organisations listed."
)
NAMES_NOTE = (
    "Who looked is shown by organisation and profession. To know the name of the person, "
    "ask that organisation, using the contact details given."
)


def own_client(viewer: Viewer) -> ClientId:
    """The caller's own client id; anyone but a client (or their representative) is refused."""
    if viewer.kind is not ViewerKind.CLIENT or viewer.client_id is None:
        raise NotPermitted(reason="clients_only")
    return parse_client_id(viewer.client_id)


@dataclass(frozen=True)
class HeldEntry:
    """An entry as the person sees it: names and titles instead of codes, no author id."""

    entry: SharedEntry
    agency_name: str | None
    profession_title: str | None
    category_title: str | None

    def to_json(self) -> dict[str, Any]:
        e = self.entry
        return {
            "entry_id": e.entry_id,
            "kind": e.kind,
            "occurred_at": e.occurred_at.isoformat(),
            "recorded_at": e.recorded_at.isoformat(),
            "organisation": self.agency_name,
            "organisation_code": e.agency_id,
            "profession": self.profession_title or e.profession,
            "category": self.category_title or e.category,
            "heading": e.heading,
            "text": e.text,
            "amended": e.amended,
            "alert_kind": e.alert_kind,
            "resolved": e.resolved,
            "lawful_basis": e.lawful_basis,
        }


def held_entries(services: Services, read: ClientSlice, protocol: Protocol) -> list[HeldEntry]:
    names = services.reads.directory.agencies([e.agency_id for e in read.entries])
    held = []
    for e in read.entries:
        agency = names.get(e.agency_id)
        profession = protocol.professions.get(e.profession)
        category = protocol.categories.get(e.category)
        held.append(
            HeldEntry(
                entry=e,
                agency_name=None if agency is None else str(agency[1]),
                profession_title=None if profession is None else profession.title,
                category_title=None if category is None else category.title,
            )
        )
    return held


def own_slice(services: Services, viewer: Viewer) -> ClientSlice:
    """What is held about the caller (entries not withheld under a named exception)."""
    return services.reads.client_slice(viewer, own_client(viewer), Purpose.SUBJECT_ACCESS)


def own_accesses(
    services: Services, viewer: Viewer, *, before: int | None = None, limit: int = 100
) -> list[ClientAccess]:
    """Accesses to the caller's record, newest first, in words."""
    client_id = str(own_client(viewer))
    records = client_access_records(
        services.databases.access, client_id, before=before, limit=limit
    )
    return in_words(
        records,
        client_id=client_id,
        views=services.databases.views,
        access=services.databases.access,
        protocol=services.care_record.protocol(),
    )


def access_log_record(
    viewer: Viewer, shown: list[ClientAccess], *, request_id: str, at: datetime, action: str
) -> AccessRecord:
    """The access record of showing the person (part of) their access log."""
    return access_record(
        viewer,
        request_id=request_id,
        at=at,
        action=action,
        purpose=SUBJECT_ACCESS,
        basis=SUBJECT_ACCESS,
        client_id=viewer.client_id,
        response_hash=response_hash({"accesses": [[a.seq, a.access_id] for a in shown]}),
    )


# --- the export -------------------------------------------------------------------------------

EXPORT_LIMIT = 100_000


def export_document(
    services: Services, viewer: Viewer, *, request_id: str, zone: tzinfo
) -> tuple[dict[str, Any], list[AccessRecord]]:
    """The whole export and the two access records to write before it is sent."""
    read = own_slice(services, viewer)
    app = services.care_record
    protocol = app.protocol()
    identity = app.client_identity(read.client_id)
    accesses = own_accesses(services, viewer, limit=EXPORT_LIMIT)
    involved = sorted(
        {e.agency_id for e in read.entries}
        | {a.words.agency_id for a in accesses if a.words.agency_id}
    )
    contacts = services.reads.directory.agencies(involved)
    document: dict[str, Any] = {
        "document": "subject_access_export",
        "format_version": 1,
        "generated_at": read.read_at.isoformat(),
        "partnership": protocol.title,
        "person": {
            "client_id": str(read.client_id),
            "given_name": identity.given_name,
            "family_name": identity.family_name,
            "date_of_birth": identity.date_of_birth,
        },
        "held": [h.to_json() for h in held_entries(services, read, protocol)],
        "access_log": [a.to_json(a.words.sentence(zone)) for a in accesses],
        "organisations": [
            {
                "code": str(c[0]),
                "name": str(c[1]),
                "sector": str(c[2]),
                "phone": str(c[3]),
                "email": str(c[4]),
            }
            for c in (contacts[k] for k in involved if k in contacts)
        ],
        "notes": [WITHHELD_NOTE, NAMES_NOTE],
    }
    at = read.read_at
    records = [
        read.access_record(request_id=request_id, action=EXPORT, at=at),
        access_log_record(viewer, accesses, request_id=request_id, at=at, action=EXPORT_LOG),
    ]
    return document, records


_STYLE = (
    "body{font-family:Georgia,serif;max-width:46em;margin:2em auto;line-height:1.4;color:#111}"
    "h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #999;margin-top:2em}"
    "table{border-collapse:collapse;width:100%}td,th{border:1px solid #bbb;padding:.3em;"
    "vertical-align:top;text-align:left}.entry{border:1px solid #bbb;padding:.5em;margin:.6em 0;"
    "page-break-inside:avoid}.meta{color:#444;font-size:.9em}@media print{body{margin:0}}"
)


def render_html(document: dict[str, Any], zone: tzinfo) -> str:
    """A printable page of the export (every value escaped)."""

    def e(value: Any) -> str:
        return html.escape("" if value is None else str(value))

    def day(value: str) -> str:
        at = datetime.fromisoformat(value).astimezone(zone)
        return f"{at.day} {at:%B %Y}"

    def born(value: str) -> str:
        birth = date.fromisoformat(value)
        return f"{birth.day} {birth:%B %Y}"

    person = document["person"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Your record - {e(person['given_name'])} {e(person['family_name'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Your shared care record: {e(person['given_name'])} {e(person['family_name'])}</h1>",
        f"<p class='meta'>Date of birth {e(born(person['date_of_birth']))}. "
        f"{e(document['partnership'])}."
        f" Printed copy made on {e(day(document['generated_at']))}.</p>",
        f"<h2>What is held about you ({len(document['held'])} entries)</h2>",
    ]
    for h in document["held"]:
        amended = " (corrected)" if h["amended"] else ""
        parts.append(
            "<div class='entry'>"
            f"<div class='meta'>{e(day(h['occurred_at']))} - "
            f"{e(h['organisation'] or h['organisation_code'])}"
            f", {e(h['profession'])} - {e(h['category'])}"
            f"{': ' + e(h['heading']) if h['heading'] else ''}{e(amended)}</div>"
            f"<p>{e(h['text'])}</p></div>"
        )
    parts.append(f"<h2>Who has looked at your record ({len(document['access_log'])} times)</h2>")
    parts.append("<table><tr><th>When</th><th>What happened</th><th>Why it was allowed</th></tr>")
    for a in document["access_log"]:
        parts.append(
            f"<tr><td>{e(day(a['at']))}</td><td>{e(a['description'])}</td>"
            f"<td>{e(plain_purpose(a['purpose']))}; {e(plain_basis(a['basis'], a['entry_bases']))}"
            "</td></tr>"
        )
    parts.append("</table><h2>Organisations</h2><table>")
    parts.append("<tr><th>Organisation</th><th>Telephone</th><th>Email</th></tr>")
    for o in document["organisations"]:
        parts.append(
            f"<tr><td>{e(o['name'])}</td><td>{e(o['phone'])}</td><td>{e(o['email'])}</td></tr>"
        )
    parts.append("</table>")
    parts += [f"<p class='meta'>{e(note)}</p>" for note in document["notes"]]
    parts.append("</body></html>")
    return "".join(parts)
