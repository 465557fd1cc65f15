"""HL7 v2 at the edge, one module per concern (HL7 v2.5.1; docs/hl7v2.md).

In: ``listener`` (MLLP server) and ``interop.api`` (HTTP) call ``intake.receive``, which takes a
message or a batch of them (``batch``), stores each (``store``), reads its MSH (``header``,
with the ``er7`` reader), recognises the lab (``senders``), reads the message in its character
set (``charsets``), charts results (``oru``) or applies patient events (``adt``), both reading
fields with ``fields``, and answers with an ACK (``ack``). ``mllp`` is the framing both
directions use. ``check`` runs messages through all of it in a transaction rolled back
(``manage.py partner_check``, the golden projections).

Out: ``outbound_orders`` queues and delivers each lab order version's message, which
``order_messages`` builds from the lab's profile (``order_profiles``: ORM^O01 or OML^O21,
the JSON files of ``profiles/``).
"""
