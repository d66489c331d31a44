"""The alerts: declared once, checked on the exporter's data, written out as rules and runbooks."""
