"""``python -m snnjax ...`` is ``python -m snnjax.main ...`` (the command line of snnjax.main)."""

from snnjax.main import cli

cli()
