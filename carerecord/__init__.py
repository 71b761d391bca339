"""An event-sourced shared care record: domain, sharing policy and application service."""
