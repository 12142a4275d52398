"""`python -m chidao.cli` runs the command line."""

from chidao.cli import main

raise SystemExit(main())
