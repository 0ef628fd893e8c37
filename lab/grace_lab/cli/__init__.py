"""The lab's `grace` subcommands (`demo`, `cluster`), registered through entry points."""
