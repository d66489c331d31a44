"""The Prometheus text format: fragments per workspace, rendered in the background."""
