"""``radhub stats ...`` (placeholder until radhub.stats lands)."""

import click


@click.group()
def stats() -> None:
    """Diagnostic-accuracy statistics (radhub.stats)."""
