"""Alembic migrations for opgraph storage (a package so env.py ships with it)."""
