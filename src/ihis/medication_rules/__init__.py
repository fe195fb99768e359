"""Rational-use rules (合理用药, DOMAIN §5, BJ 5.3.3): a pure engine and a versioned knowledge base."""
