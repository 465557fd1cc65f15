"""Models of terminology: fields, constraints, __str__."""
