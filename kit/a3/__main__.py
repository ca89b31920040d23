"""`python -m kit.a3 ...`"""

from .commands import main

main()
