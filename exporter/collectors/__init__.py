"""What the exporter reads from Rocket.Chat: one module per collector, each declaring its
requests, parsing its answers, and rendering its families (see exporter/collecting/)."""
