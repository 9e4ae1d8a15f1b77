"""The MLflow server fixtures (mlflow_server.py) for every module here."""

from importers.mlflow_server import _kept_mlflow_servers as _kept_mlflow_servers
from importers.mlflow_server import mlflow_server as mlflow_server
