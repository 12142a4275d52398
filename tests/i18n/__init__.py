"""Tests of the catalogue and of the times people read."""
