"""The deploy policy (``deploy.policy_file``, YAML; docs/deploy.md): which lifecycle stage a version must be in to
be deployed into which namespaces (matched by name patterns or, with a cluster, by namespace labels), whether its
model artifact must have verified digests, and the profile bounds every request stays within. Every refusal says
which rule refused and why."""

from __future__ import annotations
