"""``python -m luasched`` is the ``luasched`` command."""

from .cli import main

main()
