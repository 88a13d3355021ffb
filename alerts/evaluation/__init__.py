"""Measuring the alert engine on a synthetic cohort replayed as the live server would see it.

``cohort`` (with ``physiology``, ``episodes``, ``artefacts``) generates patients, readings
and labelled deteriorations; ``replay`` feeds them to the engine hour by hour through the
alert lifecycle; ``scoring`` turns the alerts into sensitivity and false alerts per
patient-week; ``study`` runs the engine and the naive baseline side by side; ``report``
writes the Markdown and the plots.
"""
