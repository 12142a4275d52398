"""The benchmarks: each module measures one cost against a baseline taken in the same run.

`python -m bench` runs them all (bench/__main__.py, the registry in bench/suite.py) and writes
one table to bench/results/; each module also runs on its own (`python bench/<name>.py`).
Nothing here is part of the test suite's pass/fail.
"""
