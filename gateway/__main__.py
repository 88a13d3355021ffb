"""``python -m gateway`` is the ``carewatch`` command (used by the demo for its children)."""

from gateway.console import main

main()
