"""Models of interop: fields, constraints, __str__."""
