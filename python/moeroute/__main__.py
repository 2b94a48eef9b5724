"""`python -m moeroute ARGS` (and the `moeroute` script a wheel installs): the moeroute command-line tool.

Runs the CLI binary the wheel bundles (moeroute/bin/moeroute, built from cli/ by pip install; see
pyproject.toml) with ARGS, replacing this process, so its output and exit status are the tool's own
(cli/README.md, `man moeroute`). $MOEROUTE_CLI names another binary. Without either: a message and exit 3.
"""

import os
import sys

# the CLI's exit status for "a file could not be found or run" (cli/README.md, EXIT STATUS)
_EXIT_IO = 3


def cli_path():
    """The CLI binary this package runs: $MOEROUTE_CLI, else the bundled copy; None when there is none."""
    env = os.environ.get("MOEROUTE_CLI")
    if env:
        return env
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "moeroute")
    return bundled if os.path.isfile(bundled) else None


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    path = cli_path()
    if path is None:
        sys.stderr.write("moeroute: this moeroute package has no bundled command-line tool (it is bundled when "
                         "the package is built by `pip install .` from the repository root); set MOEROUTE_CLI to "
                         "a moeroute binary (cmake builds it as build/cli/moeroute)\n")
        return _EXIT_IO
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(path, [path] + args)
    except OSError as e:
        sys.stderr.write("moeroute: cannot run %s: %s\n" % (path, e.strerror or e))
        return _EXIT_IO


if __name__ == "__main__":
    sys.exit(main())
