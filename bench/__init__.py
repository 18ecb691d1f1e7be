"""Benchmarks: real processes, the real garminconnect client, the bundled simulator.

`python -m bench` (or `make bench`) runs every `bench/bench_*.py`;
`python -m bench NAME` runs one. Each prints a table and writes
`bench/results/NAME.json`. These measure; no test asserts a timing.
See docs/BENCHMARKS.md for the figures and how to read them.
"""
