"""The kernel's HTTP edge kit: authentication, permissions, problem JSON, base views.

Public to the ``api`` packages of other apps and to ``interop`` (its HTTP edges).
"""
