"""Alert rules as data: the rule models, reading and merging rule documents, and compiling
rules into the per-patient arrays the vectorised engine reads.

Rules are data because clinicians, not programmers, decide them: the defaults live in a
readable YAML file with the source of every number, and a clinician's change for one
patient (a COPD patient's 88–92 % target) is a *partial* document of the same shape that
the server stores as JSON. The engine itself never sees a document: it receives a
``RuleTable`` of NumPy arrays.

* :mod:`alerts.ruleset.models`: what a valid rule set is (pydantic);
* :mod:`alerts.ruleset.loading`: the defaults file and a patient's override merged on top,
  validated as a whole (the only module that reads a file);
* :mod:`alerts.ruleset.compiling`: validated rule sets into the engine's ``RuleTable``.

Nothing is re-exported here: each name has one home, and importing the models (as the
oracle does, for typing) does not load the loader or the compiler.
"""
