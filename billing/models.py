"""Models of billing: fields, constraints, __str__."""
