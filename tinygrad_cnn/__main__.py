"""`python -m tinygrad_cnn ...` runs the `tinygrad-cnn` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
