"""What other apps may use of orders: its facade, which re-exports the app's errors."""

from __future__ import annotations

import inspect

from clinic.contracts import DomainError
from orders import errors, facade


def test_the_facade_re_exports_every_error_of_the_app():
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, DomainError) and value.__module__ == errors.__name__
    }

    assert defined
    assert defined <= set(facade.__all__)
    assert all(getattr(facade, name) is getattr(errors, name) for name in defined)
    assert set(errors.__all__) == defined


def test_every_name_the_facade_publishes_exists():
    assert [name for name in facade.__all__ if not hasattr(facade, name)] == []
