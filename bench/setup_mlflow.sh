#!/usr/bin/env bash
# Creates .venvs/mlflow with the MLflow tracking server, used ONLY by bench/registry_vs_mlflow.py as the baseline.
# MLflow is never a dependency of modelreg. Everything comes from the package index at setup time; the benchmark
# downloads nothing when it runs. Safe to re-run: it only installs what is missing.
#
#   bash bench/setup_mlflow.sh            # then: .venv/bin/python bench/registry_vs_mlflow.py
#   MLFLOW_VERSION=3.17.2 PYTHON=python3.11 bash bench/setup_mlflow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MLFLOW_VERSION=${MLFLOW_VERSION:-3.17.2}
venv=.venvs/mlflow

if [ -x "$venv/bin/mlflow" ] && "$venv/bin/python" - "$MLFLOW_VERSION" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(0 if version("mlflow") == sys.argv[1] else 1)
EOF
  echo "mlflow $MLFLOW_VERSION already installed in $venv"
  exit 0
fi

[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "mlflow==$MLFLOW_VERSION"
"$venv/bin/mlflow" --version
echo "MLflow ready in $venv"
