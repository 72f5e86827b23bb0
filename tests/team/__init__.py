"""Tests of the team pool (agent_tracker.team) against a real PostgreSQL server."""
