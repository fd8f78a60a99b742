"""`python -m chaosfleet.cli`: the same as the `chaosfleet` command."""

from chaosfleet.cli.main import main

main()
