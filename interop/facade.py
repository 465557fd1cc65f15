"""Public functions of interop for other apps (plain data in, plain data out). Built in its issue."""
