from hrm_cli.main import entry_point

entry_point()
