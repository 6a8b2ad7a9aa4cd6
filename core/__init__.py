"""Shared low-level pieces: settings, database base and session, money, clock, outbox.

Every other package may import this one; it imports none of them.
"""
