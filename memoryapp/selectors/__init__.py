"""Reads: functions that return data or QuerySets, never write."""
