"""Prefect tasks: each takes one pydantic input and performs one side effect, idempotent by its key."""
