"""The GraphQL schema, assembled in one place from per-area pieces.

Each area (the caller, clients, the curated record, referrals, governance, the
client's own view...) defines small ``@strawberry.type`` classes of fields in its own
module; they are merged here into ``Query``, ``Mutation`` and ``Subscription``. To add
an area, add its classes to the tuples below (one line each).
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from api.graphql.care import CareMutations
from api.graphql.clients import ClientMutations, ClientQueries
from api.graphql.consent import ConsentMutations
from api.graphql.context import transport_of
from api.graphql.contributions import ContributionMutations
from api.graphql.governance import GovernanceQueries
from api.graphql.hardening import hardening_extension
from api.graphql.idempotency import OneMutationPerKey
from api.graphql.lists import ListQueries
from api.graphql.me import MeQueries
from api.graphql.own_record import OwnRecordQueries
from api.graphql.record import RecordQueries
from api.graphql.referral_mutations import ReferralMutations
from api.graphql.refusals import RecordRefusals
from api.graphql.scalars import SCALAR_OVERRIDES
from api.graphql.subscriptions import RecordSubscriptions
from api.settings import ApiSettings

QUERY_AREAS: tuple[type, ...] = (
    MeQueries,
    ClientQueries,
    RecordQueries,
    ListQueries,
    GovernanceQueries,
    OwnRecordQueries,
)
MUTATION_AREAS: tuple[type, ...] = (
    ClientMutations,
    CareMutations,
    ContributionMutations,
    ConsentMutations,
    ReferralMutations,
)
SUBSCRIPTION_AREAS: tuple[type, ...] = (RecordSubscriptions,)


class CareRecordSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: strawberry's default logs messages and tracebacks, which may
        carry input values. ``api.errors.coded_graphql_error`` logs unexpected errors by
        type, path and request id only (the hardening extension applies it to every result).
        """


def build_schema(settings: ApiSettings) -> CareRecordSchema:
    """The schema for one app, with its limits built once (see ``api.graphql.hardening``)."""
    kwargs: dict[str, Any] = {
        "query": merge_types("Query", QUERY_AREAS),
        "mutation": merge_types("Mutation", MUTATION_AREAS),
    }
    if SUBSCRIPTION_AREAS:
        kwargs["subscription"] = merge_types("Subscription", SUBSCRIPTION_AREAS)
    return CareRecordSchema(
        **kwargs,
        extensions=[
            hardening_extension(
                settings.limits, introspection=settings.graphiql, transport_of=transport_of
            ),
            OneMutationPerKey,
            RecordRefusals,
        ],
        config=StrawberryConfig(disable_field_suggestions=True),
        scalar_overrides=SCALAR_OVERRIDES,
    )
