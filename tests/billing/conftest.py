"""Billing tests run against an application with billing's routes and the payment simulators."""

from tests.factories_billing import billing_app  # noqa: F401
