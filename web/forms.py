"""The web app's forms: field checks a person can fix, with messages in words."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils import timezone

from identity.contracts import Gender

SEX_CHOICES = [(g.value, g.value.capitalize()) for g in Gender]


class RegisterForm(forms.Form):
    family = forms.CharField(label="Family name", max_length=100, error_messages={"required": "Enter a family name"})
    given = forms.CharField(label="Given names", max_length=200, required=False)
    birth_date = forms.DateField(
        label="Date of birth",
        error_messages={"required": "Enter a date of birth", "invalid": "Enter a real date of birth"},
    )
    sex = forms.ChoiceField(label="Sex", choices=SEX_CHOICES, error_messages={"required": "Choose the patient's sex"})
    nhs_number = forms.CharField(label="NHS number (optional)", max_length=20, required=False)
    phone = forms.CharField(label="Phone (optional)", max_length=40, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)
    confirm_new = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)

    def clean_birth_date(self) -> Any:
        value = self.cleaned_data["birth_date"]
        if value > timezone.localdate():
            raise forms.ValidationError("Date of birth must be in the past")
        return value

    def clean_nhs_number(self) -> str:
        return "".join(str(self.cleaned_data.get("nhs_number") or "").split())
