"""The CareWatch rule engine: pure NumPy computation over readings, plus notifiers."""
