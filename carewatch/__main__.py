"""``python -m carewatch`` is the ``carewatch`` command (the demo and tests start children so)."""

from carewatch.console import main

main()
