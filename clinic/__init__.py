"""The kernel: tenancy (tenants, sites, memberships, policy), API clients, the event outbox and
its relay, feature flags, and the kits other apps build on (``clinic.db``, ``clinic.rows``,
``clinic.api``, ``clinic.admin``). The Django project itself is ``config/``."""
