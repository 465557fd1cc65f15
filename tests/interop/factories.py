"""Factories of interop rows: lab partners, and messages in the store as intake leaves them.

A factory-made ``InboundMessage`` is for tests of what reads the store (the support trace,
the admin, the release of held results); tests of intake itself deliver real messages
(``interop.v2.intake.receive``)."""

from __future__ import annotations

import hashlib

import factory
from django.utils import timezone

from interop.models import InboundMessage, LabPartner
from tests.clinic.factories import TenantFactory

TAKEN = (InboundMessage.Status.PROCESSED, InboundMessage.Status.DUPLICATE, InboundMessage.Status.HELD)


class LabPartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabPartner

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Lab {n}")
    facility = factory.Sequence(lambda n: f"LAB{n}")


class InboundMessageFactory(factory.django.DjangoModelFactory):
    """A result received over MLLP from a registered lab and charted (AA). ``partner=None,
    tenant=None`` is a message of an unknown sender."""

    class Meta:
        model = InboundMessage

    partner = factory.SubFactory(LabPartnerFactory)
    tenant = factory.LazyAttribute(lambda m: m.partner.tenant if m.partner else None)
    transport = InboundMessage.Transport.MLLP
    peer = "127.0.0.1:50000"
    control_id = factory.Sequence(lambda n: f"MSG{n:05d}")
    sending_facility = factory.LazyAttribute(lambda m: m.partner.facility if m.partner else "NOSUCHLAB")
    message_type = "ORU^R01"
    version = "2.5.1"
    raw = factory.LazyAttribute(
        lambda m: (
            f"MSH|^~\\&||{m.sending_facility}|||20260101120000||{m.message_type}|{m.control_id}|P|{m.version}\r"
        ).encode()
    )
    size = factory.LazyAttribute(lambda m: len(m.raw))
    sha256 = factory.LazyAttribute(lambda m: hashlib.sha256(m.raw).hexdigest())
    status = InboundMessage.Status.PROCESSED
    ack_code = "AA"
    ack_control_id = factory.Sequence(lambda n: f"ACK{n:05d}")
    received_at = factory.LazyFunction(timezone.now)
    committed_at = factory.LazyAttribute(lambda m: m.received_at if m.status in TAKEN else None)
