"""Every model that references a patient is re-pointed by merges: a new app cannot be forgotten."""

from __future__ import annotations

from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps

from identity import references
from identity.models import Patient

# Identity's own references are handled by merge itself (identifiers move; merges and links
# name both patients on purpose; a revision is the history of the record it was, and stays).
HANDLED_BY_IDENTITY = {
    "identity.PatientIdentifier.patient",
    "identity.PatientRevision.patient",
    "identity.Patient.replaced_by",
    "identity.MergeRecord.source",
    "identity.MergeRecord.target",
}


def unregistered_patient_references(model_classes) -> list[str]:
    registered = {(r.label, r.field) for r in references.registered()}
    missing = []
    for model in model_classes:
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is Patient:
                name = f"{model._meta.label}.{field.name}"
                if name not in HANDLED_BY_IDENTITY and (model._meta.label, field.name) not in registered:
                    missing.append(name)
    return missing


def test_every_model_referencing_a_patient_has_a_re_pointer():
    assert unregistered_patient_references(apps.get_models()) == []


@isolate_apps("tests.probe")
def test_the_check_catches_a_model_without_a_re_pointer():
    class Prescription(models.Model):
        patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")

        class Meta:
            app_label = "probe"

    assert unregistered_patient_references([Prescription]) == ["probe.Prescription.patient"]
