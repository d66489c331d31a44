"""The machinery every collector shares: the Collector protocol and typed keys (base), the
registry that finds the collectors, text-format helpers, the fence of allowed_networks, and the
statistics record's field declarations. The collectors themselves are exporter/collectors/."""
