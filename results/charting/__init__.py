"""Charting a result message: one DiagnosticReport per OBR, one Observation per OBX, exactly once.

Everything a message changes is written in the caller's transaction: reports, observations,
their prior versions, the order's status (orders facade), the events. The business keys are
unique constraints, so a redelivery (or a concurrent duplicate) finds the rows the first
delivery wrote and charts nothing new (ADR 0005).

The steps, one module each:

- ``resolution``: whose result it is and where it goes (patient, orders, encounters), or why
  it must be held;
- ``coding``: code systems, translations to LOINC and FHIR statuses, units;
- ``digests``: what the lab said, as compared to tell a redelivery from a new version;
- ``rows``: the report and observation rows a message becomes;
- ``versions``: rows charted before: same, later (update, keep the prior) or older (stale);
- ``chart``: the whole of it, from the locked patient to the outcome.

The SQL that inserts the rows and its column lists are in ``results.sql``; the events in
``results.events``; the queue of held results in ``results.held``.
"""
