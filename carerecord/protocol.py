"""The information sharing protocol (ISP) as validated, immutable data.

A protocol document (YAML or JSON) is parsed once into a ``Protocol``; the raw
document is what gets recorded in the log when a version is adopted, so any past
version can be parsed again exactly. Parsing is strict: unknown keys, unknown
professions, categories, purposes, roles or sectors are refused with
``InvalidProtocol`` naming the offending path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from typing import Protocol as Structural

import orjson
import yaml

from carerecord.errors import InvalidProtocol
from carerecord.vocab import (
    DEFAULT_BREAK_GLASS_RECORDS,
    AlertKind,
    LawfulBasis,
    Purpose,
    RecordKind,
    Role,
    Sector,
    Sensitivity,
)

AGENCY_SYSTEM = "agency_system"
"""The pseudo-profession of an agency's own integrating system (feeds)."""

ANY = "*"
REDACTABLE_FIELDS = frozenset({"author", "heading"})
_READ_PURPOSES = (Purpose.DIRECT_CARE, Purpose.SAFEGUARDING, Purpose.EMERGENCY)


class Audience(Structural):
    """What an audience rule reads of a viewer: a ``Viewer``, or the policy's ``ViewerKey``."""

    @property
    def profession(self) -> str | None: ...

    @property
    def sector(self) -> Sector | None: ...

    @property
    def roles(self) -> frozenset[Role]: ...


@dataclass(frozen=True)
class AudienceRule:
    """Matches a viewer by profession, sector or role (any of them), optionally per purpose."""

    professions: frozenset[str] = frozenset()
    sectors: frozenset[Sector] = frozenset()
    roles: frozenset[Role] = frozenset()
    purposes: frozenset[Purpose] | None = None

    def matches(self, viewer: Audience, purpose: Purpose) -> bool:
        if self.purposes is not None and purpose not in self.purposes:
            return False
        return (
            ANY in self.professions
            or (viewer.profession is not None and viewer.profession in self.professions)
            or (viewer.sector is not None and viewer.sector in self.sectors)
            or bool(self.roles & viewer.roles)
        )


def any_matches(rules: Iterable[AudienceRule], viewer: Audience, purpose: Purpose) -> bool:
    return any(rule.matches(viewer, purpose) for rule in rules)


@dataclass(frozen=True)
class CategoryDef:
    id: str
    title: str
    min_sensitivity: Sensitivity


@dataclass(frozen=True)
class ProfessionDef:
    id: str
    title: str
    sector: Sector
    headings: Mapping[str, str]


@dataclass(frozen=True)
class ReachRow:
    """One row of a need-to-know matrix: the audience ``who`` reaches ``categories``."""

    who: tuple[AudienceRule, ...]
    categories: frozenset[str] | None  # None: every category ("*", only where meant)


def matrix_reach(
    rows: tuple[ReachRow, ...] | None, viewer: Audience, purpose: Purpose
) -> frozenset[str] | None:
    """The union of the categories of the ``rows`` whose audience matches the viewer.

    ``rows=None`` is no matrix (every category: ``None``); a viewer matching no row
    reaches nothing (the empty set).
    """
    if rows is None:
        return None
    found: set[str] = set()
    for row in rows:
        if any_matches(row.who, viewer, purpose):
            if row.categories is None:
                return None
            found |= row.categories
    return frozenset(found)


@dataclass(frozen=True)
class PurposeRule:
    purpose: Purpose
    who: tuple[AudienceRule, ...]
    categories: frozenset[str] | None  # None: every category
    reach: tuple[ReachRow, ...] | None = None  # None: no need-to-know matrix


@dataclass(frozen=True)
class LawfulBasisRule:
    basis: LawfulBasis
    purposes: frozenset[Purpose]
    who: tuple[AudienceRule, ...]
    overrides_refusal: bool


@dataclass(frozen=True)
class ImpliedConsentRule:
    purposes: frozenset[Purpose]
    sectors: frozenset[Sector]


@dataclass(frozen=True)
class BreakGlassRule:
    who: tuple[AudienceRule, ...]
    purposes: frozenset[Purpose]
    default_minutes: int
    max_minutes: int
    min_reason_length: int
    overrides_refusal: bool
    reach: tuple[ReachRow, ...] | None = None
    """Where break-glass is itself a basis for sharing without consent (``None``: for
    every category its purposes reach - versions 1 and 2; otherwise only the
    categories of the rows matching the viewer)."""
    may_record: frozenset[RecordKind] = DEFAULT_BREAK_GLASS_RECORDS
    """What a grant lets its holder record (``break_glass.may_record``; optional: absent,
    it is contribution + alert, and the document - so its hash - is unchanged)."""


@dataclass(frozen=True)
class RedactionRule:
    who: tuple[AudienceRule, ...]
    fields: frozenset[str]


@dataclass(frozen=True)
class Protocol:
    """One adopted version of the information sharing protocol."""

    partnership: str
    version: int
    title: str
    categories: Mapping[str, CategoryDef]
    professions: Mapping[str, ProfessionDef]
    purposes: Mapping[Purpose, PurposeRule]
    sensitive_audiences: Mapping[str, tuple[AudienceRule, ...]]
    restricted_audiences: Mapping[str, frozenset[str]]
    lawful_bases: Mapping[LawfulBasis, LawfulBasisRule]
    implied_consent: tuple[ImpliedConsentRule, ...]
    break_glass: BreakGlassRule
    redactions: tuple[RedactionRule, ...]
    subject_access_exemptions: Mapping[str, str]
    alert_categories: Mapping[AlertKind, str]
    content_hash: str

    def sensitive_audience(self, category: str) -> tuple[AudienceRule, ...]:
        return self.sensitive_audiences.get(category, self.sensitive_audiences.get(ANY, ()))

    def restricted_audience(self, category: str) -> frozenset[str]:
        return self.restricted_audiences.get(
            category, self.restricted_audiences.get(ANY, frozenset())
        )

    def need_to_know(self, viewer: Audience, purpose: Purpose) -> frozenset[str] | None:
        """Which categories ``viewer`` may reach for ``purpose``: the purpose's own
        categories (its outer bound) within the need-to-know matrix (``reach``) rows
        matching the viewer. ``None`` is every category; a purpose the protocol does
        not name reaches nothing. Consent, sensitivity and relationships narrow further.
        """
        rule = self.purposes.get(purpose)
        if rule is None:
            return frozenset()
        matrix = matrix_reach(rule.reach, viewer, purpose)
        if rule.categories is None:
            return matrix
        return rule.categories if matrix is None else rule.categories & matrix

    def break_glass_reach(self, viewer: Audience, purpose: Purpose) -> frozenset[str] | None:
        """The categories for which a break-glass grant is itself a basis for sharing
        without consent (``None``: every category; versions without ``break_glass.reach``)."""
        return matrix_reach(self.break_glass.reach, viewer, purpose)

    def category_for_heading(self, profession: str, heading: str) -> str | None:
        definition = self.professions.get(profession)
        return None if definition is None else definition.headings.get(heading)


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of a protocol document."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


# --- loading --------------------------------------------------------------------------


def load_document(path: Path) -> dict[str, Any]:
    """Read a protocol document (YAML or JSON) from a file, without interpreting it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidProtocol(field="file", reason=type(exc).__name__) from None
    return parse_document_text(text)


def parse_document_text(text: str) -> dict[str, Any]:
    if len(text) > 512_000:
        raise InvalidProtocol(field="file", reason="too_large")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InvalidProtocol(field="file", reason="not_yaml") from None
    if not isinstance(document, dict):
        raise InvalidProtocol(field="file", reason="not_a_mapping")
    # Round-trip through JSON so the recorded document holds only JSON-native values.
    try:
        return dict(orjson.loads(orjson.dumps(document)))
    except TypeError:
        raise InvalidProtocol(field="file", reason="not_json_compatible") from None


_RESERVED_KEYS = frozenset({"_type_", "_data_"})


def _check_reserved_keys(value: object, path: str) -> None:
    """Refuse the transcoder's tag keys anywhere in a document (they would not decode)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _RESERVED_KEYS:
                raise InvalidProtocol(field=f"{path}.{key}", reason="reserved_key")
            _check_reserved_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_reserved_keys(item, f"{path}[{index}]")


BUNDLED_VERSIONS = (1, 2, 3)
"""The protocol versions shipped with the package; 3 is written as minimum necessary."""


def bundled_document(version: int = 1) -> dict[str, Any]:
    """A protocol document shipped with the package (``carerecord/data``)."""
    if version not in BUNDLED_VERSIONS:
        raise InvalidProtocol(field="bundled", reason="unknown_version")
    data = resources.files("carerecord.data").joinpath(f"protocol-v{version}.yaml")
    return parse_document_text(data.read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _parse_cached(canonical: bytes) -> Protocol:
    return _Parser(orjson.loads(canonical)).parse()


def parse_protocol(document: Mapping[str, Any]) -> Protocol:
    """Validate a protocol document and return it as a ``Protocol`` (cached by content)."""
    try:
        canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        raise InvalidProtocol(field="document", reason="not_json_compatible") from None
    return _parse_cached(canonical)


class _Parser:
    _TOP_KEYS = frozenset(
        {
            "partnership",
            "version",
            "title",
            "categories",
            "professions",
            "purposes",
            "sensitive_audiences",
            "restricted_audiences",
            "lawful_bases",
            "implied_consent",
            "break_glass",
            "redactions",
            "subject_access_exemptions",
            "alert_categories",
        }
    )

    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = document
        self.categories: dict[str, CategoryDef] = {}
        self.professions: dict[str, ProfessionDef] = {}

    def fail(self, path: str, reason: str) -> InvalidProtocol:
        return InvalidProtocol(field=path, reason=reason)

    def mapping(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected_mapping")
        return value

    def sequence(self, value: object, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, "expected_list")
        return value

    def text(self, value: object, path: str, *, max_len: int = 300) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > max_len:
            raise self.fail(path, "expected_text")
        return value

    def keys(self, value: dict[str, Any], allowed: Iterable[str], path: str) -> None:
        unknown = set(value) - set(allowed)
        if unknown:
            raise self.fail(f"{path}.{sorted(unknown)[0]}", "unknown_key")

    def enum_set(self, value: object, enum: type[Any], path: str) -> frozenset[Any]:
        items = self.sequence(value, path)
        try:
            return frozenset(enum(v) for v in items)
        except ValueError:
            raise self.fail(path, "unknown_value") from None

    def parse(self) -> Protocol:
        doc = self.mapping(self.doc, "document")
        _check_reserved_keys(doc, "document")
        self.keys(doc, self._TOP_KEYS, "document")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail("version", "expected_positive_integer")
        partnership = self.text(doc.get("partnership"), "partnership", max_len=64)
        title = self.text(doc.get("title"), "title")
        self.parse_categories(self.mapping(doc.get("categories"), "categories"))
        self.parse_professions(self.mapping(doc.get("professions"), "professions"))
        purposes = self.parse_purposes(self.mapping(doc.get("purposes"), "purposes"))
        return Protocol(
            partnership=partnership,
            version=version,
            title=title,
            categories=self.categories,
            professions=self.professions,
            purposes=purposes,
            sensitive_audiences=self.parse_sensitive(doc.get("sensitive_audiences", {})),
            restricted_audiences=self.parse_restricted(doc.get("restricted_audiences", {})),
            lawful_bases=self.parse_lawful_bases(doc.get("lawful_bases", {})),
            implied_consent=self.parse_implied(doc.get("implied_consent", [])),
            break_glass=self.parse_break_glass(doc.get("break_glass")),
            redactions=self.parse_redactions(doc.get("redactions", [])),
            subject_access_exemptions=self.parse_exemptions(
                doc.get("subject_access_exemptions", {})
            ),
            alert_categories=self.parse_alert_categories(doc.get("alert_categories")),
            content_hash=content_hash(doc),
        )

    def category(self, value: object, path: str) -> str:
        if not isinstance(value, str) or value not in self.categories:
            raise self.fail(path, "unknown_category")
        return value

    def profession(self, value: object, path: str, *, allow_any: bool = True) -> str:
        if isinstance(value, str) and (
            value in self.professions or value == AGENCY_SYSTEM or (allow_any and value == ANY)
        ):
            return value
        raise self.fail(path, "unknown_profession")

    def parse_categories(self, raw: dict[str, Any]) -> None:
        if not raw:
            raise self.fail("categories", "empty")
        for key, value in raw.items():
            path = f"categories.{key}"
            body = self.mapping(value, path)
            self.keys(body, {"title", "min_sensitivity"}, path)
            try:
                floor = Sensitivity(body.get("min_sensitivity", "normal"))
            except ValueError:
                raise self.fail(f"{path}.min_sensitivity", "unknown_value") from None
            self.categories[key] = CategoryDef(key, self.text(body.get("title"), path), floor)

    def parse_professions(self, raw: dict[str, Any]) -> None:
        if not raw:
            raise self.fail("professions", "empty")
        for key, value in raw.items():
            path = f"professions.{key}"
            if key in (AGENCY_SYSTEM, ANY):
                raise self.fail(path, "reserved_name")
            body = self.mapping(value, path)
            self.keys(body, {"title", "sector", "headings"}, path)
            try:
                sector = Sector(str(body.get("sector")))
            except ValueError:
                raise self.fail(f"{path}.sector", "unknown_value") from None
            headings_raw = self.mapping(body.get("headings"), f"{path}.headings")
            if not headings_raw:
                raise self.fail(f"{path}.headings", "empty")
            headings = {
                self.text(h, f"{path}.headings", max_len=80): self.category(
                    c, f"{path}.headings.{h}"
                )
                for h, c in headings_raw.items()
            }
            self.professions[key] = ProfessionDef(
                key, self.text(body.get("title"), path), sector, headings
            )

    def audience_rules(self, raw: object, path: str) -> tuple[AudienceRule, ...]:
        rules = []
        for i, item in enumerate(self.sequence(raw, path)):
            item_path = f"{path}[{i}]"
            body = self.mapping(item, item_path)
            self.keys(body, {"professions", "sectors", "roles", "purposes"}, item_path)
            professions = frozenset(
                self.profession(p, f"{item_path}.professions")
                for p in self.sequence(body.get("professions", []), f"{item_path}.professions")
            )
            purposes = body.get("purposes")
            rules.append(
                AudienceRule(
                    professions=professions,
                    sectors=self.enum_set(body.get("sectors", []), Sector, f"{item_path}.sectors"),
                    roles=self.enum_set(body.get("roles", []), Role, f"{item_path}.roles"),
                    purposes=None
                    if purposes is None
                    else self.enum_set(purposes, Purpose, f"{item_path}.purposes"),
                )
            )
        return tuple(rules)

    def parse_purposes(self, raw: dict[str, Any]) -> dict[Purpose, PurposeRule]:
        result: dict[Purpose, PurposeRule] = {}
        for key, value in raw.items():
            path = f"purposes.{key}"
            try:
                purpose = Purpose(key)
            except ValueError:
                raise self.fail(path, "unknown_purpose") from None
            if purpose not in _READ_PURPOSES:
                raise self.fail(path, "purpose_not_configurable")
            body = self.mapping(value, path)
            self.keys(body, {"who", "categories", "reach"}, path)
            categories = self.categories_or_any(body.get("categories", ANY), f"{path}.categories")
            reach = body.get("reach")
            result[purpose] = PurposeRule(
                purpose,
                self.audience_rules(body.get("who"), f"{path}.who"),
                categories,
                None if reach is None else self.reach_rows(reach, f"{path}.reach"),
            )
        if Purpose.DIRECT_CARE not in result:
            raise self.fail("purposes.direct_care", "missing")
        return result

    def categories_or_any(self, raw: object, path: str) -> frozenset[str] | None:
        if raw == ANY:
            return None
        return frozenset(self.category(c, path) for c in self.sequence(raw, path))

    def reach_rows(self, raw: object, path: str) -> tuple[ReachRow, ...]:
        """A need-to-know matrix: rows of ``{who: [audience rules], categories: [...] | "*"}``."""
        rows = []
        for i, item in enumerate(self.sequence(raw, path)):
            row_path = f"{path}[{i}]"
            body = self.mapping(item, row_path)
            self.keys(body, {"who", "categories"}, row_path)
            if "who" not in body or "categories" not in body:
                raise self.fail(row_path, "missing")
            rows.append(
                ReachRow(
                    self.audience_rules(body["who"], f"{row_path}.who"),
                    self.categories_or_any(body["categories"], f"{row_path}.categories"),
                )
            )
        return tuple(rows)

    def parse_sensitive(self, raw: object) -> dict[str, tuple[AudienceRule, ...]]:
        body = self.mapping(raw, "sensitive_audiences")
        return {
            (key if key == ANY else self.category(key, f"sensitive_audiences.{key}")): (
                self.audience_rules(value, f"sensitive_audiences.{key}")
            )
            for key, value in body.items()
        }

    def parse_restricted(self, raw: object) -> dict[str, frozenset[str]]:
        body = self.mapping(raw, "restricted_audiences")
        result = {}
        for key, value in body.items():
            path = f"restricted_audiences.{key}"
            category = key if key == ANY else self.category(key, path)
            result[category] = frozenset(
                self.profession(p, path, allow_any=False) for p in self.sequence(value, path)
            )
        return result

    def parse_lawful_bases(self, raw: object) -> dict[LawfulBasis, LawfulBasisRule]:
        body = self.mapping(raw, "lawful_bases")
        result: dict[LawfulBasis, LawfulBasisRule] = {}
        for key, value in body.items():
            path = f"lawful_bases.{key}"
            try:
                basis = LawfulBasis(key)
            except ValueError:
                raise self.fail(path, "unknown_lawful_basis") from None
            if basis is LawfulBasis.CONSENT:
                raise self.fail(path, "consent_is_not_an_exception")
            rule = self.mapping(value, path)
            self.keys(rule, {"purposes", "who", "overrides_refusal"}, path)
            result[basis] = LawfulBasisRule(
                basis=basis,
                purposes=self.enum_set(rule.get("purposes"), Purpose, f"{path}.purposes"),
                who=self.audience_rules(rule.get("who"), f"{path}.who"),
                overrides_refusal=self.boolean(rule.get("overrides_refusal", False), path),
            )
        return result

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "expected_boolean")
        return value

    def integer(self, value: object, path: str, *, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(path, "out_of_range")
        return value

    def parse_implied(self, raw: object) -> tuple[ImpliedConsentRule, ...]:
        rules = []
        for i, item in enumerate(self.sequence(raw, "implied_consent")):
            path = f"implied_consent[{i}]"
            body = self.mapping(item, path)
            self.keys(body, {"purposes", "sectors"}, path)
            rules.append(
                ImpliedConsentRule(
                    purposes=self.enum_set(body.get("purposes"), Purpose, f"{path}.purposes"),
                    sectors=self.enum_set(body.get("sectors"), Sector, f"{path}.sectors"),
                )
            )
        return tuple(rules)

    def parse_break_glass(self, raw: object) -> BreakGlassRule:
        body = self.mapping(raw, "break_glass")
        self.keys(
            body,
            {
                "who",
                "purposes",
                "default_minutes",
                "max_minutes",
                "min_reason_length",
                "overrides_refusal",
                "reach",
                "may_record",
            },
            "break_glass",
        )
        reach = body.get("reach")
        max_minutes = self.integer(
            body.get("max_minutes"), "break_glass.max_minutes", low=1, high=1440
        )
        return BreakGlassRule(
            who=self.audience_rules(body.get("who"), "break_glass.who"),
            purposes=self.enum_set(body.get("purposes"), Purpose, "break_glass.purposes"),
            default_minutes=self.integer(
                body.get("default_minutes"), "break_glass.default_minutes", low=1, high=max_minutes
            ),
            max_minutes=max_minutes,
            min_reason_length=self.integer(
                body.get("min_reason_length", 20), "break_glass.min_reason_length", low=1, high=500
            ),
            overrides_refusal=self.boolean(
                body.get("overrides_refusal", False), "break_glass.overrides_refusal"
            ),
            reach=None if reach is None else self.reach_rows(reach, "break_glass.reach"),
            may_record=DEFAULT_BREAK_GLASS_RECORDS
            if "may_record" not in body
            else self.enum_set(body["may_record"], RecordKind, "break_glass.may_record"),
        )

    def parse_redactions(self, raw: object) -> tuple[RedactionRule, ...]:
        rules = []
        for i, item in enumerate(self.sequence(raw, "redactions")):
            path = f"redactions[{i}]"
            body = self.mapping(item, path)
            self.keys(body, {"who", "fields"}, path)
            fields = frozenset(self.sequence(body.get("fields"), f"{path}.fields"))
            if not fields or not fields <= REDACTABLE_FIELDS:
                raise self.fail(f"{path}.fields", "unknown_value")
            rules.append(RedactionRule(self.audience_rules(body.get("who"), f"{path}.who"), fields))
        return tuple(rules)

    def parse_exemptions(self, raw: object) -> dict[str, str]:
        body = self.mapping(raw, "subject_access_exemptions")
        return {
            self.text(k, "subject_access_exemptions", max_len=64): self.text(
                v, f"subject_access_exemptions.{k}"
            )
            for k, v in body.items()
        }

    def parse_alert_categories(self, raw: object) -> dict[AlertKind, str]:
        body = self.mapping(raw, "alert_categories")
        result = {}
        for key, value in body.items():
            try:
                kind = AlertKind(key)
            except ValueError:
                raise self.fail(f"alert_categories.{key}", "unknown_value") from None
            result[kind] = self.category(value, f"alert_categories.{key}")
        missing = set(AlertKind) - set(result)
        if missing:
            raise self.fail(f"alert_categories.{sorted(missing)[0].value}", "missing")
        return result
