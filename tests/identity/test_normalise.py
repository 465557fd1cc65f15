from __future__ import annotations

import pytest

from identity.normalise import name_key, phone_key, within_one_edit


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("  O\u2019Brién-Smith ", "obriensmith"),
        ("SMITH", "smith"),
        ("de la Cruz", "delacruz"),
        ("Zoë", "zoe"),
        ("", ""),
    ],
)
def test_name_key_ignores_case_accents_punctuation_and_spaces(raw, key):
    assert name_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("+44 20 7946 0000", "02079460000"),
        ("+44 (0)20 7946 0000", "02079460000"),
        ("0044 20 7946 0000", "02079460000"),
        ("020 7946 0000", "02079460000"),
        ("(555) 123-4567", "5551234567"),
    ],
)
def test_phone_key_compares_digits_in_national_form(raw, key):
    assert phone_key(raw) == key


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        ("smith", "smith", True),
        ("smith", "smyth", True),
        ("smith", "smiths", True),
        ("smith", "mith", True),
        ("smith", "smtih", True),
        ("smith", "smythe", False),
        ("smith", "jones", False),
    ],
)
def test_within_one_edit(a, b, close):
    assert within_one_edit(a, b) is close
    assert within_one_edit(b, a) is close
