"""Allow ``python -m docling_api``."""

import sys

from .cli import main

sys.exit(main())
