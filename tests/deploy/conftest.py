"""Deploy tests run against the Kubernetes API emulator (tests/kube_emulator): fixtures ``emulator`` (fresh per
test: the reference CRDs; namespaces team-a, team-b, prod-a labelled environment=production, opendatahub) and
``kube`` (a `modelreg.kube.client.Kube` for it, mode url, token "t")."""

from kube_emulator.fixtures import emulator, kube

__all__ = ["emulator", "kube"]
