"""The kube client and informer against the Kubernetes API emulator (fixtures in tests/kube_emulator)."""

from kube_emulator.fixtures import emulator, kube

__all__ = ["emulator", "kube"]
