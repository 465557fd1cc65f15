"""Settings of the server ``make bench-fhir`` runs: the product's, with the floor's two routes
added in front of its URLs (``bench/fhir_floor.py``)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.fhir_floor"
