"""A Garmin Connect simulator for tests, benchmarks and the demo.

It speaks Garmin's SSO, DI token and API paths over real HTTP so the real
``garminconnect`` client can be pointed at it. It imports nothing from the
product: a test double that shares code with what it checks proves little.
See docs/SIMULATOR.md; the entry point is ``services.simulator.server``.
"""
