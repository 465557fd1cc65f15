"""Public functions of encounters for other apps (plain data in, plain data out). Built in its issue."""
