#!/usr/bin/env bash
# The action's install steps (action.yml), one per argument:
#   action-install.sh mlcheck        make the venv, install mlcheck with its extras
#   action-install.sh requirements   install the model's packages into that venv
# Settings come from the environment (action.yml maps its inputs onto these):
#   MLCHECK_VENV          the virtual environment (made with MLCHECK_PYTHON when missing)
#   MLCHECK_PYTHON        the Python that makes it (default: python3)
#   MLCHECK_VERSION       mlcheck from the package index; empty: the action's own checkout
#   MLCHECK_EXTRAS        comma-separated extras, e.g. load,stack,evidently (default: all)
#   ACTION_PATH           the action's checkout (its pyproject.toml and constraints.txt)
#   MLCHECK_REQUIREMENTS  a requirements file, or `model`: the MLflow model's requirements.txt
#   MLCHECK_MODEL         the model URI, for MLCHECK_REQUIREMENTS=model
# Written for bash 3.2 (macOS runners) too: no associative arrays, mapfile, ${x,,} or [[ -v ]],
# and no "${array[@]}" of an empty array under `set -u`.
set -euo pipefail

say() { echo "mlcheck action: $*"; }

install_mlcheck() {
    local python="${MLCHECK_PYTHON:-python3}" extras="${MLCHECK_EXTRAS-all}"
    if [ ! -x "$MLCHECK_VENV/bin/python" ]; then
        "$python" -m venv "$MLCHECK_VENV"
    fi
    local py="$MLCHECK_VENV/bin/python"
    "$py" -m pip install --quiet --upgrade pip
    local suffix=""
    if [ -n "$extras" ]; then
        suffix="[$(echo "$extras" | tr -d ' ')]"
    fi
    if [ -n "${MLCHECK_VERSION:-}" ]; then
        say "installing mlcheck${suffix}==$MLCHECK_VERSION"
        "$py" -m pip install --quiet "mlcheck${suffix}==$MLCHECK_VERSION"
    else
        # The checkout's pinned versions, as scripts/setup.sh installs them.
        local constraints=()
        if [ -f "$ACTION_PATH/constraints.txt" ]; then
            constraints=(-c "$ACTION_PATH/constraints.txt")
        fi
        say "installing mlcheck${suffix} from $ACTION_PATH"
        "$py" -m pip install --quiet ${constraints[@]+"${constraints[@]}"} "${ACTION_PATH}${suffix}"
    fi
    "$MLCHECK_VENV/bin/mlcheck" --help >/dev/null
}

# The model's requirements.txt as MLflow saved it (local path, models:/ or runs:/), printed as
# a local path on the last line; mlflow itself is left out: mlcheck's own mlflow loads it.
model_requirements() {
    local py="$MLCHECK_VENV/bin/python" out="$1"
    "$py" - "$MLCHECK_MODEL" "$out" <<'PY'
import re
import sys

from mlflow.pyfunc import get_model_dependencies

source = get_model_dependencies(sys.argv[1], format="pip")
kept = []
with open(source, encoding="utf-8") as handle:
    for line in handle:
        name = re.split(r"[^A-Za-z0-9_.-]", line.strip(), maxsplit=1)[0].lower()
        if name in ("mlflow", "mlflow-skinny"):
            continue
        kept.append(line.rstrip("\n"))
with open(sys.argv[2], "w", encoding="utf-8") as handle:
    handle.write("\n".join(kept) + "\n")
PY
}

install_requirements() {
    local py="$MLCHECK_VENV/bin/python" wanted="${MLCHECK_REQUIREMENTS:-}" file=""
    if [ -z "$wanted" ]; then
        return 0
    fi
    if [ "$wanted" = model ]; then
        if [ -z "${MLCHECK_MODEL:-}" ] || [ "$MLCHECK_MODEL" = demo ]; then
            say "requirements: model: the demo model needs nothing beyond mlcheck[xgboost]"
            return 0
        fi
        file="$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mlcheck-model-requirements.XXXXXX")"
        if ! model_requirements "$file"; then
            echo "mlcheck action: requirements: model: no requirements.txt could be read for model=$MLCHECK_MODEL; pass a requirements file instead" >&2
            exit 2
        fi
        say "installing the requirements of $MLCHECK_MODEL:"
        sed 's/^/    /' "$file"
    else
        if [ ! -f "$wanted" ]; then
            echo "mlcheck action: requirements: $wanted is not a file (give a requirements file, or the word model)" >&2
            exit 2
        fi
        file="$wanted"
        say "installing the requirements in $file"
    fi
    "$py" -m pip install --quiet -r "$file"
    if ! "$py" -m pip check; then
        echo "::warning::mlcheck action: the model's requirements conflict with mlcheck's (pip check above)"
    fi
    "$MLCHECK_VENV/bin/mlcheck" --help >/dev/null
}

if [ -z "${MLCHECK_VENV:-}" ]; then
    echo "mlcheck action: MLCHECK_VENV is not set" >&2
    exit 2
fi
if [ $# -eq 0 ]; then
    set -- mlcheck requirements
fi
for what in "$@"; do
    case "$what" in
        mlcheck) install_mlcheck ;;
        requirements) install_requirements ;;
        *)
            echo "mlcheck action: unknown step $what (mlcheck or requirements)" >&2
            exit 2
            ;;
    esac
done
