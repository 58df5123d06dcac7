"""How the subcommands print a report for people: one ``label  value`` row per line, labels aligned."""


def print_rows(rows: list[tuple[str, str]], width: int = 15) -> None:
    for label, value in rows:
        print(f"{label:<{width}} {value}")
