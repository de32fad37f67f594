"""``radhub serve``, ``radhub demo`` and ``radhub import`` (filled in below)."""

import click


@click.command()
def serve() -> None:
    """Run the archive server."""


@click.command()
def demo() -> None:
    """Run the archive server with demo data."""


@click.command(name="import")
def import_cmd() -> None:
    """Import files, folders and zips."""
