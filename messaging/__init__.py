"""messaging package."""
