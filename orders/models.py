"""Models of orders: fields, constraints, __str__."""
