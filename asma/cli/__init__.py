"""The `asma` command line: one entry point, one module a command group."""
