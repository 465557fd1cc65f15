"""Models of identity: fields, constraints, __str__."""
