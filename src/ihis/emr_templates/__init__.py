"""Outpatient record templates of a doctor (personal) or a department (shared)."""
