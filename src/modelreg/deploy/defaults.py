"""The platform's usual deployment targets, which `modelreg seed` creates when missing: a CPU default profile,
"NVIDIA L4 1GPU", a Kueue-queue profile, and the runtimes vllm-cuda-runtime, vllm-cpu-runtime and kserve-ovms shaped
like the platform's templates (our own text and images settings, not copies of theirs)."""

from __future__ import annotations
