"""The Dagster instance's own storage classes, selected by `deploy/dagster.yaml` (not definitions)."""
