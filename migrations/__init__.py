"""Alembic revisions, one branch per package; run with `flask --app gateway db upgrade`.

Scripts Alembic loads (`env.py`, `versions/`), not modules the code imports:
`gateway.migrate` points Alembic here.
"""
