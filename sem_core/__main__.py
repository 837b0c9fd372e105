"""Entry point for ``python -m sem_core``."""

import sys

from sem_core.cli import main

sys.exit(main())
