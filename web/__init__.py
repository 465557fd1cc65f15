"""The clinician and front-desk web app: server-rendered pages enhanced by htmx (ADR 0009)."""
