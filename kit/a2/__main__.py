"""`python -m kit.a2 ...`"""

import sys

from .commands import main

sys.exit(main())
