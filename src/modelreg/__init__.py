"""modelreg: a self-hosted model registry with governance that speaks the Kubeflow Model Registry API."""

__version__ = "0.1.0"
