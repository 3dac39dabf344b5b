"""The `hrm` command line and terminal UI."""
