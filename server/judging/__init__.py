"""The judging stage: where the server hands readings and the clock to the rule engine
(``alerts``) and turns what it finds into alert changes. On arriving readings
(``readings.Judge``, inside the ingest's transaction) and on the clock tick (``clock``:
missed readings, silent hubs), with each patient's rules and the one sentence a clinician
reads about a finding (``findings``). Everything else in the server loads, stores and
delivers."""
