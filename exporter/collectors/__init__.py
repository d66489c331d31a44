"""What the exporter reads from Rocket.Chat: one module per endpoint group, and the registry."""
