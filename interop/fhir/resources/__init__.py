"""One module per resource type; importing this package registers them all."""

from interop.fhir.resources import (  # noqa: F401
    charge_item,
    concept_map,
    encounter,
    organization,
    patient,
    results,
    service_request,
    specimen,
)
