"""Tables of this package (filled in by its owner)."""
