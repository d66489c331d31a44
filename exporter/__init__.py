"""Prometheus exporter for Rocket.Chat: cluster instances and workspace statistics."""

__version__ = "0.1.0"
