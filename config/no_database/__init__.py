"""The database backend of a process started without ``DATABASE_URL``: every use of the
database raises :class:`~config.no_database.base.DatabaseNotConfigured`, which says how to get
one. Settings never start a database themselves (``scripts/dev.py`` does)."""
