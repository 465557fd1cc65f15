"""What other apps may use of identity: the facade, which re-exports the app's errors."""

from __future__ import annotations

import inspect

from identity import errors, facade


def test_the_facade_re_exports_every_error_of_the_app():
    defined = {
        name for name, value in vars(errors).items() if inspect.isclass(value) and value.__module__ == errors.__name__
    }

    assert defined == set(errors.__all__)
    assert defined <= set(facade.__all__)
    assert all(getattr(facade, name) is getattr(errors, name) for name in defined)
