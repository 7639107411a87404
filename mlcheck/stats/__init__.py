"""Pure statistics: numpy/pandas/scipy in, numbers out. No I/O, no policy, no gate results.

`metrics` holds the classification metrics and their bootstrap intervals, `drift` the
per-column drift tests, `timing` the latency percentiles. The catalogues the policy checks its
keys against (`METRICS`, `METHODS`) live here, beside the code that computes them.
"""
