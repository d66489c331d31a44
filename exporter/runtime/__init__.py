"""Polling at run time: the schedules, the latest good data per endpoint, GC settings."""
