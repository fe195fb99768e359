"""Models of this domain (being built)."""
