"""`python -m services.launcher health|migrate` (see `container`)."""

from __future__ import annotations

import sys

from .container import main

if __name__ == "__main__":
    sys.exit(main())
