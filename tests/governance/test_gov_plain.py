"""The person's access log in plain words: organisation and profession, what, when, why -
never a practitioner's name, never a break-glass reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carerecord.audit.plain import AccessInWords, local_zone, plain_basis

AT = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)


def words(**changes: object) -> AccessInWords:
    base: dict[str, object] = {
        "at": AT,
        "action": "record.read",
        "viewer_kind": "practitioner",
        "agency_id": "adult-care",
        "agency_name": "North Shire Adult Social Care",
        "profession": "social_worker",
        "profession_title": "Social worker",
        "roles": ("practitioner",),
        "purpose": "direct_care",
        "basis": "care_relationship",
        "entry_bases": ("consent",),
    }
    base.update(changes)
    return AccessInWords(**base)  # type: ignore[arg-type]


def test_the_example_sentence() -> None:
    assert words().sentence(local_zone()) == (
        "A social worker from North Shire Adult Social Care looked at your record on "
        "3 March 2026 at 14:05 to provide your care, because you consented."
    )


def test_summer_time_is_the_persons_local_time() -> None:
    summer = words(at=datetime(2026, 7, 1, 13, 0, tzinfo=UTC))
    assert "1 July 2026 at 14:00" in summer.sentence(local_zone())


@pytest.mark.parametrize(
    ("outcome", "ending"),
    [
        (None, "its review is pending."),
        ("justified", "their organisation reviewed it and found it justified."),
        ("not_justified", "their organisation reviewed it and found it was not justified."),
    ],
)
def test_break_glass_says_emergency_access_and_the_review(outcome: str | None, ending: str) -> None:
    text = words(
        agency_name="Shires Police",
        profession_title="Police officer",
        purpose="emergency",
        basis="break_glass",
        entry_bases=("break_glass", "vital_interests"),
        review_outcome=outcome,
    ).sentence()
    assert text.startswith("A police officer from Shires Police looked at your record on")
    assert "in an emergency, because they used emergency access (break-glass)" in text
    assert "to protect your life or health" in text
    assert text.endswith(ending)


def test_auditors_systems_and_the_person_themself() -> None:
    audit = words(
        roles=("auditor",), purpose="audit", basis="audit", entry_bases=(), action="audit.as_of"
    )
    assert audit.sentence().startswith(
        "An auditor from North Shire Adult Social Care looked at your record as it stood"
    )
    assert audit.by_auditor
    system = words(viewer_kind="agency_system", action="feed.page")
    assert system.sentence().startswith(
        "The case management system of North Shire Adult Social Care received updates"
    )
    own = words(
        viewer_kind="client",
        agency_name=None,
        purpose="subject_access",
        basis="subject_access",
        action="subject_access.export",
    )
    assert own.sentence() == (
        "You (or someone acting for you) downloaded a copy of your record on 3 March 2026 at 14:05."
    )


def test_bases_in_plain_words() -> None:
    assert plain_basis("care_relationship", ()) == "they are involved in your care"
    assert plain_basis("care_relationship", ("implied_consent", "controller")).startswith(
        "consent is implied"
    )
    assert "legal obligation" in plain_basis("care_relationship", ("legal_obligation",))
