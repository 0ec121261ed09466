"""One module per `ferkit` subcommand, each with `register(subparsers)` and a `run(args)`."""
