"""Normalisation for matching: case, accents, punctuation and whitespace do not make two names
different; phone numbers compare by their digits."""

from __future__ import annotations

import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def name_key(text: str | None) -> str:
    """'  O'Brién-Smith ' → 'obriensmith'."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Case folding can lengthen a name (ß → ss); keys are compared, not shown: cap them.
    return _NOT_ALNUM.sub("", stripped.casefold())[:100]


def phone_key(text: str | None) -> str:
    """Digits of a phone number, national form for UK numbers: '+44 (0)20 7946 0000' and
    '020 7946 0000' both give '02079460000'."""
    if not text:
        return ""
    digits = re.sub(r"\D", "", text)
    if len(digits) > 20:
        return ""  # not a phone number (E.164 has at most 15 digits)
    if digits.startswith("0044"):
        digits = digits[4:]
    elif digits.startswith("44") and len(digits) >= 12:
        digits = digits[2:]
    else:
        return digits
    return "0" + digits.removeprefix("0")


def within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance <= 1 (one insertion, deletion or substitution), or one transposition
    of neighbours ('smtih' ~ 'smith')."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
        )
    shorter, longer = (a, b) if la < lb else (b, a)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))
