"""HL7 v2 at the edge, one module per concern (HL7 v2.5.1; docs/hl7v2.md).

In: ``listener`` (MLLP server) and ``interop.api`` (HTTP) call ``intake.receive``, which stores
the message (``store``), reads its MSH (``header``, with the ``er7`` reader), recognises the lab
(``senders``), charts results (``oru``) or applies patient events (``adt``), both reading fields
with ``fields``, and answers with an ACK (``ack``). ``mllp`` is the framing both directions use.

Out: ``outbound_orders`` builds the ORM^O01 of each lab order version and delivers it over MLLP.
"""
