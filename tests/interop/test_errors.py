"""What interop shows its callers (its commands, admin and tasks): domain errors with a code."""

from __future__ import annotations

from clinic.contracts import DomainError
from interop import errors


def test_domain_refusals_of_interop_are_domain_errors_with_a_code():
    for refusal in (errors.LabPartnerExists, errors.BundleInvalid):
        assert issubclass(refusal, DomainError) and refusal.code != DomainError.code
