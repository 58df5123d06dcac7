"""The subcommands of `planestrike`, one module each (see planestrike_tui/cli.py)."""
