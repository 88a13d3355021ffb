"""Trend charts: a pure SVG renderer (``svg``, ``model``) and what feeds it from the stores
(``trends``)."""
