"""The ``radhub`` command line: one command, subcommands per domain.

Exit codes: 0 success, 1 the work failed, 2 bad usage or input.
``--json`` prints exactly one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from radhub.cli._archive import demo, import_cmd, serve
from radhub.cli._audit import audit
from radhub.cli._identity import apikey, org, share, user
from radhub.cli._radiomics import radiomics
from radhub.cli._stats import stats

__all__ = ["cli", "main"]


@click.group()
@click.version_option(package_name="radhub")
def cli() -> None:
    """radhub: DICOM archive, DICOMweb, statistics and research tools."""


cli.add_command(serve)
cli.add_command(demo)
cli.add_command(import_cmd)
cli.add_command(stats)
cli.add_command(radiomics)
cli.add_command(org)
cli.add_command(user)
cli.add_command(apikey)
cli.add_command(share)
cli.add_command(audit)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (testable without a subprocess)."""
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        # usage errors and bad input: 2
        return 2 if isinstance(exc, (click.UsageError, click.BadParameter)) or exc.exit_code == 2 else exc.exit_code
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
