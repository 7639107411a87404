"""The load test for `locust -f suites/load.py`: mlcheck's own locustfile, which every gate
run uses too (see `mlcheck/run/locustfile.py` for its options and thresholds)."""

from mlcheck.run.locustfile import *  # noqa: F403 - the user class and event listeners
