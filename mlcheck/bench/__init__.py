"""`mlcheck bench`: one run of benchmarks measured side by side with the tools users would pick
instead, written to `reports/bench.json` and `reports/bench.md`.

Sections: `serving` (the serving core vs `mlflow models serve`), `drift` (the drift gate vs
Evidently and alibi-detect), `bootstrap` (intervals vs a scikit-learn loop), `gate` (the
whole quality + schema + drift gate from 10k to 1M rows). Each section returns JSON-ready
numbers and its Markdown table; every comparison is a ratio measured in the same run, since
these machines are small and shared.
"""
