"""``python -m bench``: run the fleet benchmark (see ``bench.runner``)."""

import sys

from bench.runner import main

sys.exit(main())
