"""The lifecycle stages' names, a leaf module: ``services`` guards and moves stages with them, ``filterquery``
filters a never-set stage as the first one, and the bridge publishes them, and none of these may import another
for it."""

LIFECYCLE_PROPERTY = "Lifecycle"  # how clients see a version's stage: a custom property
STAGES = ("development", "staging", "production", "deprecated")
INITIAL_STAGE = "development"
