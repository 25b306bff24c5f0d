"""Benchmarks: the paper's tables and figures as suites of runs, and speed measurements of the harness."""
