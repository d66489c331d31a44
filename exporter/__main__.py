"""`python -m exporter` is the same as `rocketchat-exporter`."""

import sys

from exporter.cli import main

sys.exit(main())
