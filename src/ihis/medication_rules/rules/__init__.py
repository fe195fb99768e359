"""One module per rule family; each exposes ``check(ctx) -> Iterator[Finding]``."""
