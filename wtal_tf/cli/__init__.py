"""The ``wtal`` command line: thin parsers that call library functions."""
