"""``python -m sknclust``: the same as the ``sknclust`` console script."""

import sys

from sknclust.cli import main

if __name__ == "__main__":
    sys.exit(main())
