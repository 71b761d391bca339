"""Prometheus metrics, one registry per app (so several apps can live in one process, as in tests).

Labels never carry identities or clinical facts: routes, statuses, codes, reasons.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "carerecord_http_requests_total",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "carerecord_http_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.graphql_errors = Counter(
            "carerecord_graphql_errors_total",
            "GraphQL errors returned, by code.",
            ["code"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "carerecord_auth_failures_total",
            "Refused credentials, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.access_records = Counter(
            "carerecord_access_records_total",
            "Access records written (reads audited), by action.",
            ["action"],
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "carerecord_audit_failures_total",
            "Reads refused because the access log could not be written.",
            registry=self.registry,
        )
        self.subscriptions = Gauge(
            "carerecord_subscriptions_active",
            "Active GraphQL subscriptions.",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "carerecord_subscription_deliveries_total",
            "Events delivered to subscribers.",
            registry=self.registry,
        )
        self.projection_lag = Gauge(
            "carerecord_projection_lag_events",
            "Events in the log not yet reflected in the views (at the last scrape).",
            registry=self.registry,
        )
        self.projection_failed = Gauge(
            "carerecord_projection_failed",
            "1 when a view projection has stopped on an error (see carerecord views-status).",
            ["projection"],
            registry=self.registry,
        )
        self.governance_failed = Gauge(
            "carerecord_governance_task_failed",
            "1 when this process's access audit index or checkpoint timer last failed "
            "(a broken chain refuses checkpoints: run carerecord audit verify).",
            ["task"],
            registry=self.registry,
        )

    def render(self, refresh: Callable[[], None] | None = None) -> bytes:
        if refresh is not None:
            refresh()
        return generate_latest(self.registry)
