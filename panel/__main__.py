"""``python -m panel``: the panel command."""

import sys

from panel.cli import main

sys.exit(main())
