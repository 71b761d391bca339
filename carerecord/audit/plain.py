"""The client's own access log in plain words: which organisation and profession looked,
when, and why it was allowed.

Pure functions over what an access record says (and the entry bases the audit index
recovered); the API turns every access to a person's record into one sentence like

    "A social worker from North Shire Adult Social Care looked at your record on
    3 March 2026 at 14:05 to provide your care, because you consented."

Individual practitioners are not named here: the person sees the organisation and the
profession (and can ask that organisation, whose contact details are given, for the
name). Staff in police, social work and child protection can be put at risk by being
named to everyone whose record they open; the organisation is accountable and can
release a name after its own checks. Break-glass reasons are not shown (they are for
the reviewing officer); the fact of emergency access and its review outcome are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ACTIONS = {
    "record.read": "looked at your record",
    "involvement.read": "looked at which services are involved with you",
    "record.explain": "checked whether they could see an entry in your record",
    "client.lookup": "looked you up by your NHS number or another identifier",
    "caseload.list": "saw your name and date of birth on a caseload",
    "referrals.list": "saw a referral about you",
    "concerns.list": "saw a summary of concerns raised about you",
    "feed.page": "received updates from your record",
    "feed.subscription": "received updates from your record",
    "audit.index": "checked the log of who has looked at your record",
    "audit.reconstruct": "checked exactly what someone was shown from your record",
    "audit.as_of": "looked at your record as it stood at an earlier date",
    "audit.break_glass_queue": "reviewed an emergency access to your record",
    "subject_access.record": "looked at your record",
    "subject_access.access_log": "looked at the list of who has looked at your record",
    "subject_access.export": "downloaded a copy of your record",
    "subject_access.export_log": "downloaded the list of who has looked at your record",
}
PURPOSES = {
    "direct_care": "to provide your care",
    "safeguarding": "to keep you or others safe (safeguarding)",
    "emergency": "in an emergency",
    "audit": "to check that your record is being used properly (audit)",
    "subject_access": "",
}
RECORD_BASES = {
    "care_relationship": "they are involved in your care",
    "break_glass": "they used emergency access (break-glass), which is time-limited and is "
    "reviewed by their organisation",
    "subject_access": "it is your own record",
    "audit": "auditors may check how records are used",
    "referral_party": "a referral about you was sent to or from their organisation",
    "open_referral": "a referral about you was sent to their organisation",
    "agency_involvement": "their organisation is involved in your care",
}
ENTRY_BASES = {
    "consent": "you consented",
    "implied_consent": "consent is implied when the services caring for you share "
    "information for your care (unless you object)",
    "controller": "some of it was recorded by their own organisation",
    "safeguarding": "the law allows sharing without consent to protect people from harm "
    "(safeguarding)",
    "vital_interests": "it was needed to protect your life or health (vital interests)",
    "legal_obligation": "the law requires it (legal obligation)",
    "break_glass": "they used emergency access (break-glass)",
    "audit": "auditors may check how records are used",
    "subject_access": "it is your own record",
}
_ENTRY_ORDER = tuple(ENTRY_BASES)
OUTCOMES = {
    "justified": "their organisation reviewed it and found it justified",
    "not_justified": "their organisation reviewed it and found it was not justified",
}


def local_zone(name: str = "Europe/London") -> tzinfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return UTC


def when(at: datetime, zone: tzinfo) -> str:
    """``3 March 2026 at 14:05`` in the person's time zone."""
    local = at.astimezone(zone)
    return f"{local.day} {local:%B %Y} at {local:%H:%M}"


def _article(words: str) -> str:
    return "An" if words[:1].lower() in "aeiou" else "A"


@dataclass(frozen=True)
class AccessInWords:
    """What one access to a person's record was, for the person."""

    at: datetime
    action: str
    viewer_kind: str
    agency_id: str | None
    agency_name: str | None
    profession: str | None
    profession_title: str | None
    roles: tuple[str, ...]
    purpose: str
    basis: str
    entry_bases: tuple[str, ...] = ()
    review_outcome: str | None = None
    """For break-glass access: the review's outcome, if reviewed (None: not yet)."""

    @property
    def break_glass(self) -> bool:
        return self.basis == "break_glass" or "break_glass" in self.entry_bases

    @property
    def by_auditor(self) -> bool:
        return self.purpose == "audit"

    def who(self) -> str:
        if self.viewer_kind == "client":
            return "You (or someone acting for you)"
        agency = self.agency_name or self.agency_id or "an organisation"
        if self.viewer_kind == "agency_system":
            return f"The case management system of {agency}"
        if self.purpose == "audit" and "auditor" in self.roles:
            title = "auditor"
        elif self.purpose == "audit" and "information_governance_officer" in self.roles:
            title = "information-governance officer"
        else:
            title = self.profession_title or self.profession or "member of staff"
            title = title[:1].lower() + title[1:]
        return f"{_article(title)} {title} from {agency}"

    def reasons(self) -> list[str]:
        """Why it was allowed, in words (the entries' bases where known, else the standing)."""
        found = [ENTRY_BASES[b] for b in _ENTRY_ORDER if b in self.entry_bases]
        if self.basis == "break_glass":
            found = [RECORD_BASES["break_glass"]] + [
                r for r in found if r != ENTRY_BASES["break_glass"]
            ]
        if not found:
            found = [RECORD_BASES.get(self.basis, "the information sharing protocol allows it")]
        return found

    def sentence(self, zone: tzinfo = UTC) -> str:
        what = ACTIONS.get(self.action, "used your record")
        text = f"{self.who()} {what} on {when(self.at, zone)}"
        if self.viewer_kind == "client":
            return text + "."
        purpose = PURPOSES.get(self.purpose, "")
        if purpose:
            text += f" {purpose}"
        text += ", because " + " and ".join(self.reasons())
        if self.break_glass:
            text += "; " + OUTCOMES.get(self.review_outcome or "", "its review is pending")
        return text + "."


def plain_purpose(purpose: str) -> str:
    return PURPOSES.get(purpose) or "because you asked to see your record"


def plain_basis(basis: str, entry_bases: Iterable[str] = ()) -> str:
    found = [ENTRY_BASES[b] for b in _ENTRY_ORDER if b in set(entry_bases)]
    return "; ".join(found) if found else RECORD_BASES.get(basis, basis)
