from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.contracts import DomainError, NotFound
from clinic.facade import get_tenant, site_ids
from interop import synthea
from interop.errors import BundleInvalid

WHAT = ("patients", "encounters", "reports", "observations")


class Command(BaseCommand):
    help = (
        "Load Synthea FHIR R4 bundles (files, or directories of .json files) into a tenant: patients, "
        "their encounters, diagnostic reports and lab/vital-sign observations. Each bundle is loaded in one "
        "transaction; loading it again creates nothing. Other resources (claims, conditions...) are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="Synthea bundle files or directories")
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--site", type=int, help="Site of the encounters (default: the tenant's first site)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = get_tenant(slug=options["tenant"])
        except NotFound as exc:
            raise CommandError(
                f"No tenant {options['tenant']!r}: create it first (create_tenant or setup_demo)."
            ) from exc
        sites = sorted(site_ids(tenant_id=tenant.id))
        if not sites:
            raise CommandError(f"Tenant {tenant.slug} has no site: add one (admin, or POST /api/sites) first.")
        site = options["site"] if options["site"] is not None else sites[0]
        if site not in sites:
            raise CommandError(f"Tenant {tenant.slug} has no site {site} (its sites: {', '.join(map(str, sites))}).")
        # Every file is read and checked before anything is loaded: a typo in the last name
        # does not leave the first ones loaded.
        try:
            bundles = [(path, synthea.read_bundle(path)) for path in synthea.bundle_files(options["paths"])]
        except BundleInvalid as exc:
            raise CommandError(exc.describe()) from exc
        for path, bundle in bundles:
            try:
                outcome = synthea.load_bundle(tenant_id=tenant.id, site_id=site, bundle=bundle, source=path.name)
            except DomainError as exc:
                raise CommandError(f"{path}: {exc.describe()} Nothing of this bundle was loaded.") from exc
            self.stdout.write(f"{path}: {_summary(outcome)}")


def _summary(outcome: synthea.BundleOutcome) -> str:
    parts = ["created: " + ", ".join(f"{w} {outcome.created[w]}" for w in WHAT)]
    if any(outcome.existing.values()):
        parts.append("already loaded: " + ", ".join(f"{w} {outcome.existing[w]}" for w in WHAT))
    if outcome.updated["observations"]:
        parts.append(f"updated: observations {outcome.updated['observations']}")
    parts.append("skipped: " + (", ".join(f"{kind} {n}" for kind, n in sorted(outcome.skipped.items())) or "nothing"))
    return "; ".join(parts)
