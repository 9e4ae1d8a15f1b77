"""The lifecycle stages' names, on their own: ``entities`` needs them to guard the ``Lifecycle`` property and
``lifecycle`` (which imports ``entities``) to move versions between them."""

LIFECYCLE_PROPERTY = "Lifecycle"  # how clients see a version's stage: a custom property
STAGES = ("development", "staging", "production", "deprecated")
INITIAL_STAGE = "development"
