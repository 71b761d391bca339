"""Read models built from the care record's events: curated views, indexes, the runner."""
