"""The `grace` and `kubectl grace` commands: thin argument parsing over the rest of the package."""
