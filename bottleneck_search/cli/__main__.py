"""`python -m bottleneck_search.cli ...` runs the `bottleneck-search` command."""

import sys

from bottleneck_search.cli import main

sys.exit(main())
