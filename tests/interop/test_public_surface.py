"""What interop shows other code: its exceptions, through its facade."""

from __future__ import annotations

import inspect

from clinic.contracts import DomainError
from interop import errors, facade


def test_the_facade_re_exports_every_exception_of_interop():
    declared = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == errors.__name__
    }

    assert declared == set(facade.__all__)
    assert all(getattr(facade, name) is getattr(errors, name) for name in declared)


def test_domain_refusals_of_interop_are_domain_errors_with_a_code():
    for refusal in (errors.LabPartnerExists, errors.BundleInvalid):
        assert issubclass(refusal, DomainError) and refusal.code != DomainError.code
