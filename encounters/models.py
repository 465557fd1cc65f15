"""Models of encounters: fields, constraints, __str__."""
