"""Safety and provenance (work in progress)."""
