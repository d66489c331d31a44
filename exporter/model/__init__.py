"""The bottom layer: what a valid config is (frozen dataclasses), secrets and units."""
