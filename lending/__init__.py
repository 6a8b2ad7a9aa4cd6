"""lending package."""
