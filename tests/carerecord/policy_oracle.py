"""An independent oracle for the sharing policy, written from the protocol document itself.

It reads the raw protocol document (the YAML, not ``carerecord.protocol``'s parsed
model) and the rule order documented in ``carerecord/policy/rules.py``'s docstring. Unlike
the implementation (one function of nested checks), it is a rule table: every rule is
evaluated on its own as a verdict (allow, deny or no opinion), and the decision is the
first verdict in documented order. Rule names are the ids the implementation uses to
explain itself ("why can I (not) see this?"), so explanations are checked too.

Reading of the document where it is terse (decisions taken, see the report):
- ``"*"`` in professions matches every profession, including the ``agency_system``
  pseudo-profession; a client (the person) is not a profession and matches nothing.
- ``sensitive_audiences`` / ``restricted_audiences`` fall back to their ``"*"`` entry
  for a category without its own entry.
- A need-to-know matrix (``purposes.P.reach``) is read as the union of the rows
  whose ``who`` matches; no matrix, no limit; ``break_glass.reach`` likewise names
  where break-glass is a basis without consent (absent: everywhere).
- Projection time (``now is None``) applies no time limit that could narrow access:
  grants count whenever made and however expired; a refusal that lapses (has an
  expiry) does not count, since it may no longer be in force at read time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carerecord.policy import SharingState, ViewerRelationship
from carerecord.values import ConsentDecision, Labels, Restriction, Viewer
from carerecord.vocab import ConsentDecisionKind, Purpose, RelationshipKind, Role, ViewerKind

AUDITING_ROLES = {Role.AUDITOR.value, Role.IG_OFFICER.value}


@dataclass(frozen=True)
class Case:
    viewer: Viewer
    purpose: Purpose
    labels: Labels
    state: SharingState
    relationship: ViewerRelationship
    now: datetime | None


@dataclass(frozen=True)
class Expected:
    allowed: bool
    rule: str
    basis: str | None = None
    redactions: frozenset[str] = frozenset()


Verdict = Expected | None


class Oracle:
    """The protocol document's rules as a table of independent verdicts."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = document
        self.purposes: dict[str, dict[str, Any]] = document["purposes"]
        self.sensitive: dict[str, list[dict[str, Any]]] = document.get("sensitive_audiences", {})
        self.restricted: dict[str, list[str]] = document.get("restricted_audiences", {})
        self.bases: dict[str, dict[str, Any]] = document.get("lawful_bases", {})
        self.implied: list[dict[str, Any]] = document.get("implied_consent", [])
        self.break_glass: dict[str, Any] = document["break_glass"]
        self.redaction_rules: list[dict[str, Any]] = document.get("redactions", [])
        self.rules: list[tuple[str, Callable[[Case], Verdict]]] = [
            ("1 subject access", self.subject_access),
            ("1 clients read only their own record", self.client_elsewhere),
            ("2 audit", self.audit),
            ("3 purpose open to the viewer", self.purpose_open),
            ("4 legitimate relationship", self.relationship),
            ("5 purpose reaches the category", self.purpose_reach),
            ("5b need to know", self.need_to_know),
            ("6 sensitivity", self.sensitivity),
            ("7 restrictions", self.restrictions),
            ("8 contributing agency", self.own_agency),
            ("9-10 exceptions, refusals and consent", self.consent_and_exceptions),
            ("11 implied consent", self.implied_consent),
            ("12 otherwise", self.otherwise),
        ]

    # -- the audience rule of the document's header ------------------------------------

    def matches(self, rules: Iterable[dict[str, Any]], viewer: Viewer, purpose: Purpose) -> bool:
        """ANY listed profession, sector or role matches; ``purposes`` limits a rule."""
        if viewer.kind is ViewerKind.CLIENT:
            return False
        roles = {r.value for r in viewer.roles}
        for rule in rules:
            if "purposes" in rule and purpose.value not in rule["purposes"]:
                continue
            professions = set(rule.get("professions", []))
            if "*" in professions or viewer.profession in professions:
                return True
            if viewer.sector is not None and viewer.sector.value in rule.get("sectors", []):
                return True
            if roles & set(rule.get("roles", [])):
                return True
        return False

    # -- the rules, each judged on its own ------------------------------------------------

    def subject_access(self, case: Case) -> Verdict:
        if case.purpose is not Purpose.SUBJECT_ACCESS:
            return None
        is_self = (
            case.viewer.kind is ViewerKind.CLIENT
            and case.relationship.kind is RelationshipKind.SELF
        )
        if not is_self:
            return Expected(False, "subject-access-self-only")
        if case.labels.subject_access_exemption is not None:
            return Expected(False, "exempt-from-subject-access")
        return Expected(True, "subject-access", "subject_access")

    def client_elsewhere(self, case: Case) -> Verdict:
        if case.viewer.kind is ViewerKind.CLIENT:
            return Expected(False, "purpose-not-permitted")
        return None

    def audit(self, case: Case) -> Verdict:
        if case.purpose is not Purpose.AUDIT:
            return None
        if {r.value for r in case.viewer.roles} & AUDITING_ROLES:
            return Expected(True, "audit", "audit")
        return Expected(False, "audit-role-required")

    def purpose_open(self, case: Case) -> Verdict:
        rule = self.purposes.get(case.purpose.value)
        if rule is None or not self.matches(rule["who"], case.viewer, case.purpose):
            return Expected(False, "purpose-not-permitted")
        return None

    def relationship(self, case: Case) -> Verdict:
        kind = case.relationship.kind
        if kind is RelationshipKind.CARE:
            return None
        if kind is RelationshipKind.BREAK_GLASS:
            grant = case.relationship.grant
            if grant is None:
                return Expected(False, "break-glass-expired")
            if case.now is not None and not (grant.granted_at <= case.now < grant.expires_at):
                return Expected(False, "break-glass-expired")
            if (
                case.purpose.value not in self.break_glass["purposes"]
                or grant.purpose is not case.purpose
            ):
                return Expected(False, "break-glass-purpose")
            return None
        return Expected(False, "no-relationship")

    def purpose_reach(self, case: Case) -> Verdict:
        reach = self.purposes.get(case.purpose.value, {}).get("categories", "*")
        if reach != "*" and case.labels.category not in reach:
            return Expected(False, "category-outside-purpose")
        return None

    def named_in(self, rows: list[dict[str, Any]], case: Case) -> bool:
        """Whether a matrix's rows matching the viewer name the entry's category."""
        return any(
            self.matches(row["who"], case.viewer, case.purpose)
            and (row["categories"] == "*" or case.labels.category in row["categories"])
            for row in rows
        )

    def need_to_know(self, case: Case) -> Verdict:
        rows = self.purposes.get(case.purpose.value, {}).get("reach")
        if rows is not None and not self.named_in(rows, case):
            return Expected(False, "category-outside-need-to-know")
        return None

    def sensitivity(self, case: Case) -> Verdict:
        labels, viewer = case.labels, case.viewer
        same_agency = viewer.agency_id == labels.agency_id
        same_profession = same_agency and viewer.profession == labels.profession
        level = labels.sensitivity.value
        if level == "restricted":
            named = self.restricted.get(labels.category, self.restricted.get("*", []))
            if same_agency and (same_profession or viewer.profession in named):
                return None
            return Expected(False, "restricted-sensitivity")
        if level == "sensitive":
            audience = self.sensitive.get(labels.category, self.sensitive.get("*", []))
            if same_profession or self.matches(audience, viewer, case.purpose):
                return None
            return Expected(False, "sensitive-audience")
        return None

    def restrictions(self, case: Case) -> Verdict:
        viewer, labels = case.viewer, case.labels
        if viewer.agency_id == labels.agency_id:
            return None
        if any(self.seals(r, labels, viewer) for r in case.state.restrictions):
            return Expected(False, "restricted-by-request")
        return None

    @staticmethod
    def seals(restriction: Restriction, labels: Labels, viewer: Viewer) -> bool:
        covered = restriction.entry_id == labels.entry_id or (
            restriction.category is not None and restriction.category == labels.category
        )
        audience = restriction.hidden_from
        hidden = (
            audience.everyone
            or viewer.agency_id in audience.agencies
            or viewer.sector in audience.sectors
            or viewer.profession in audience.professions
        )
        return covered and hidden

    def own_agency(self, case: Case) -> Verdict:
        if case.viewer.agency_id is not None and case.viewer.agency_id == case.labels.agency_id:
            return Expected(True, "own-agency", "controller")
        return None

    def in_force(self, consent: ConsentDecision, now: datetime | None) -> bool:
        if now is None:
            return not (
                consent.decision is ConsentDecisionKind.REFUSED and consent.expires_at is not None
            )
        expired = consent.expires_at is not None and now >= consent.expires_at
        return consent.decided_at <= now and not expired

    @staticmethod
    def covers(consent: ConsentDecision, case: Case) -> bool:
        scope, viewer = consent.scope, case.viewer
        audience = scope.audience
        return (
            (scope.categories is None or case.labels.category in scope.categories)
            and (scope.purposes is None or case.purpose in scope.purposes)
            and (
                audience.everyone
                or viewer.agency_id in audience.agencies
                or viewer.sector in audience.sectors
                or viewer.profession in audience.professions
            )
        )

    def exceptions(self, case: Case) -> list[tuple[str, str, bool]]:
        """Every basis for sharing without consent that applies, lawful bases first."""
        found = []
        basis = self.bases.get(case.labels.lawful_basis.value)
        if (
            basis is not None
            and case.purpose.value in basis["purposes"]
            and self.matches(basis["who"], case.viewer, case.purpose)
        ):
            found.append(
                ("lawful-basis", case.labels.lawful_basis.value, basis["overrides_refusal"])
            )
        rows = self.break_glass.get("reach")
        if case.relationship.kind is RelationshipKind.BREAK_GLASS and (
            rows is None or self.named_in(rows, case)
        ):
            found.append(
                ("break-glass", "break_glass", self.break_glass.get("overrides_refusal", False))
            )
        return found

    def consent_and_exceptions(self, case: Case) -> Verdict:
        relevant = [
            c for c in case.state.consents if self.in_force(c, case.now) and self.covers(c, case)
        ]
        refusals = {c.consent_id for c in relevant if c.decision is ConsentDecisionKind.REFUSED}
        grants = {c.consent_id for c in relevant if c.decision is ConsentDecisionKind.GRANTED}
        exceptions = self.exceptions(case)
        redactions = self.redactions(case)
        if refusals:
            overriding = [e for e in exceptions if e[2]]
            if overriding:
                rule, basis, _ = overriding[0]
                return Expected(True, rule, basis, redactions)
            return Expected(False, "consent-refused")
        if exceptions:
            rule, basis, _ = exceptions[0]
            return Expected(True, rule, basis, redactions)
        if grants:
            return Expected(True, "consent", "consent", redactions)
        return None

    def implied_consent(self, case: Case) -> Verdict:
        viewer_sector = None if case.viewer.sector is None else case.viewer.sector.value
        for rule in self.implied:
            if (
                case.purpose.value in rule["purposes"]
                and viewer_sector in rule["sectors"]
                and case.labels.sector.value in rule["sectors"]
            ):
                return Expected(True, "implied-consent", "implied_consent", self.redactions(case))
        return None

    def otherwise(self, case: Case) -> Verdict:
        return Expected(False, "no-consent")

    def redactions(self, case: Case) -> frozenset[str]:
        fields: set[str] = set()
        for rule in self.redaction_rules:
            if self.matches(rule["who"], case.viewer, case.purpose):
                fields |= set(rule["fields"])
        return frozenset(fields)

    # -- the decision ------------------------------------------------------------------------

    def verdicts(self, case: Case) -> list[tuple[str, Expected]]:
        """Every rule's own verdict on the case (the full table row)."""
        return [(name, v) for name, judge in self.rules if (v := judge(case)) is not None]

    def expect(self, case: Case) -> Expected:
        """The first verdict in documented order."""
        for _, judge in self.rules:
            verdict = judge(case)
            if verdict is not None:
                return verdict
        raise AssertionError("rule 12 always has a verdict")
