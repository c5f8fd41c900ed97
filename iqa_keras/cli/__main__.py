"""`python -m iqa_keras.cli`: the `iqa-keras` command."""

import sys

from iqa_keras.cli import main

if __name__ == "__main__":
    sys.exit(main())
