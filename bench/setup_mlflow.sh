#!/usr/bin/env bash
# Creates .venvs/mlflow with the MLflow tracking server, used ONLY by bench/registry_vs_mlflow.py as the baseline.
# MLflow is never a dependency of modelreg. Everything comes from the package index at setup time; the benchmark
# downloads nothing when it runs. Safe to re-run: it only installs what is missing.
# Besides MLflow it installs the database drivers MLflow needs for a server backend store
# (registry_vs_mlflow.py --database mariadb|postgresql): PyMySQL (mysql+pymysql://) and psycopg 3
# (postgresql+psycopg://), the drivers modelreg itself uses.
#
#   bash bench/setup_mlflow.sh            # then: .venv/bin/python bench/registry_vs_mlflow.py
#   MLFLOW_VERSION=3.17.2 PYTHON=python3.11 bash bench/setup_mlflow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MLFLOW_VERSION=${MLFLOW_VERSION:-3.17.2}
DRIVERS=(PyMySQL "psycopg[binary]")
venv=.venvs/mlflow

if [ -x "$venv/bin/mlflow" ] && "$venv/bin/python" - "$MLFLOW_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
version("pymysql"), version("psycopg"), version("psycopg-binary")  # raises when a driver is missing
sys.exit(0 if version("mlflow") == sys.argv[1] else 1)
PY
  echo "mlflow $MLFLOW_VERSION and its database drivers already installed in $venv"
  exit 0
fi

[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "mlflow==$MLFLOW_VERSION" "${DRIVERS[@]}"
"$venv/bin/mlflow" --version
"$venv/bin/python" -c "import pymysql, psycopg; print('drivers: PyMySQL', pymysql.__version__, '/ psycopg', psycopg.__version__)"
echo "MLflow ready in $venv"
