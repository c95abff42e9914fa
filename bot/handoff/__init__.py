"""Handoff to a person: tickets, and what agents do with them from any desk."""
