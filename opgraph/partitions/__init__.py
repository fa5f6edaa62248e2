"""Partitions: how assets and jobs split into keys (days, hours, regions, ...)."""
