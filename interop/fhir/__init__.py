"""The FHIR R4 (4.0.1) read API: a read-only projection of the model for integrators.

One module per interaction or operation (``read``, ``search``, ``history``, ``everything``,
``capability``), one per resource type under ``resources/``; the CapabilityStatement is built
from the registry those modules fill, so it lists exactly what is served. Every error is an
OperationOutcome (``errors``). See docs/adr/0006-fhir-read-api.md.
"""
