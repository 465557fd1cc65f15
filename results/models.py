"""Models of results: fields, constraints, __str__."""
