"""Clinical rules: pure functions from NumPy arrays of readings to severities."""
