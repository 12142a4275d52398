"""Prefect flows: the directive reconciler, launching, simulation, and their deployments."""
