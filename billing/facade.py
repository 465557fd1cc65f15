"""Public functions of billing for other apps (plain data in, plain data out). Built in its issue."""
