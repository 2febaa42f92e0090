"""`python -m app.cli`: the same as the `mpanel` console script."""
import sys

from app.cli import main

sys.exit(main())
