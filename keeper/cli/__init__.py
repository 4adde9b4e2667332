"""The command line: argument parsing, commands and exit codes."""
