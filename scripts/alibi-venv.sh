#!/usr/bin/env bash
# alibi-detect for `mlcheck bench` (the drift comparison): it needs numpy < 2, so it gets an
# interpreter of its own, .venv-alibi, which the benchmark runs as a subprocess. ~75 s once.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv-alibi/bin/python ] && .venv-alibi/bin/python -c "import alibi_detect" 2>/dev/null; then
    exit 0
fi
python3 -m venv .venv-alibi
.venv-alibi/bin/pip install --quiet --disable-pip-version-check "alibi-detect==0.13.0"
.venv-alibi/bin/python -c "import alibi_detect; print('alibi-detect', alibi_detect.__version__)"
