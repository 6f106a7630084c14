"""``python -m datastore_engine``: the ``datastore-engine`` command (see :mod:`datastore_engine.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
