"""Alembic migrations; run with `flask --app gateway db upgrade`."""
