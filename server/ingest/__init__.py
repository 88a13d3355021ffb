"""From the broker to the stores: validate, attribute, store, judge, then acknowledge."""
