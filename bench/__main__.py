"""Entry point: ``python -m bench [--quick] [--backends dse,raw,...]``."""

from bench.run import main

raise SystemExit(main())
