"""The auditor's plain "as of" view: the whole record as it stood at a past time.

"As of T" compares T with recording times and with the times in the record (consent
decided and expiring), so these tests run the application on the real clock, as in
production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson
import pytest
from audit_world import GP, SECRET, SOCIAL_WORKER, Deployment, register_client

from carerecord.audit.reconstruct import TimeTravel, record_as_of
from carerecord.errors import ClientNotFound
from carerecord.protocol import bundled_document


class RealClock:
    def __call__(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def step_clock() -> RealClock:
    return RealClock()


class Story:
    """A client's history, with the recording time of each step."""

    def __init__(self, dep: Deployment) -> None:
        app, clock = dep.app, dep.clock
        self.app = app
        self.client = register_client(app)
        self.consent = app.record_consent(
            GP.caller,
            self.client,
            decision="granted",
            everyone=True,
            expires_at=clock() + timedelta(hours=2),
        ).id
        self.first = app.record_contribution(
            GP.caller, self.client, heading="History", text=SECRET, occurred_at=clock()
        ).id
        self.at_first = self.recorded()
        app.amend_contribution(GP.caller, self.client, self.first, text="Corrected", reason="Typo")
        self.restriction = app.place_restriction(
            GP.caller,
            self.client,
            requested_by="client",
            reason="Client asked",
            category="mental_health",
            sectors=["police"],
        ).id
        self.at_restricted = self.recorded()
        app.adopt_protocol(bundled_document(2))
        app.start_care_relationship(SOCIAL_WORKER.caller, self.client, reason="Allocated")
        self.second = app.record_contribution(
            GP.caller, self.client, heading="Plan", text=SECRET, occurred_at=clock()
        ).id
        app.enter_contribution_in_error(GP.caller, self.client, self.second, reason="Wrong client")
        self.at_in_error = self.recorded()
        app.lift_restriction(GP.caller, self.client, self.restriction, reason="Client agreed")
        app.withdraw_consent(GP.caller, self.client, self.consent, reason="Changed their mind")
        self.at_end = self.recorded()

    def recorded(self) -> tuple[int, datetime]:
        """The client's current version and when it was recorded."""
        (last,) = self.app.events.get(UUID(self.client), desc=True, limit=1)
        return last.originator_version, last.timestamp


@pytest.fixture
def story(deployment: Deployment) -> Story:
    return Story(deployment)


def test_as_of_an_early_moment_the_record_is_as_it_then_stood(story: Story) -> None:
    version, at = story.at_first
    record = record_as_of(story.app, story.client, at)
    assert record.version == version
    assert [(e.labels.entry_id, e.amended) for e in record.entries] == [(story.first, False)]
    assert [c.consent_id for c in record.consents] == [story.consent]
    assert record.consents_in_force == {story.consent}
    assert record.restrictions == ()
    assert record.protocol_version == 1


def test_between_two_events_the_earlier_one_holds(story: Story) -> None:
    version, at = story.at_first
    _, next_at = story.at_restricted
    record = record_as_of(story.app, story.client, at + (next_at - at) / 100)
    assert record.version in (version, version + 1)  # the amendment may share the tick
    assert record.restrictions == ()


def test_amendments_restrictions_errors_and_protocol_versions_as_of_later_moments(
    story: Story,
) -> None:
    engine = TimeTravel(story.app)
    restricted = engine.record_as_of(story.client, story.at_restricted[1])
    assert [(e.labels.entry_id, e.amended, e.text) for e in restricted.entries] == [
        (story.first, True, "Corrected")
    ]
    assert [r.restriction_id for r in restricted.restrictions] == [story.restriction]
    assert restricted.protocol_version == 1

    in_error = engine.record_as_of(story.client, story.at_in_error[1])
    assert in_error.protocol_version == 2
    assert {e.labels.entry_id: e.in_error for e in in_error.entries} == {
        story.first: False,
        story.second: True,
    }
    assert len(in_error.relationships) == 2

    end = engine.record_as_of(story.client, story.at_end[1])
    assert end.version == story.at_end[0]
    assert (end.restrictions, end.consents) == ((), ())


def test_a_consent_past_its_expiry_is_held_but_not_in_force(
    deployment: Deployment, story: Story
) -> None:
    later = deployment.clock() + timedelta(hours=3)
    _, restricted_at = story.at_restricted
    assert later > restricted_at
    record = TimeTravel(story.app).record_as_of(story.client, later)
    # Withdrawn by the end of the story; as of the restriction it was held, now expired.
    assert record.consents == ()
    held = TimeTravel(story.app).record_as_of(story.client, restricted_at)
    assert held.consents_in_force == {story.consent}
    assert held.consents[0].expires_at is not None
    assert not held.consents[0].in_force_at(later)


def test_before_the_client_was_registered_there_is_no_record(story: Story) -> None:
    _, at = story.at_first
    with pytest.raises(ClientNotFound):
        record_as_of(story.app, story.client, at - timedelta(days=1))


def test_the_as_of_view_shows_text_only_when_asked(story: Story) -> None:
    record = record_as_of(story.app, story.client, story.at_end[1])
    quiet = orjson.dumps(record.to_json()).decode()
    assert SECRET not in quiet
    assert story.first in quiet
    assert SECRET in orjson.dumps(record.to_json(show_text=True)).decode()
