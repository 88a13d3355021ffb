"""Plain-Python reference implementations: slow, obvious, one reading at a time.

They exist only as oracles for the property tests of the vectorised rules in ``alerts``; a
mistake has to be made twice, in two different styles, to get through.
"""
