"""What the hub, the server and the rule engine share, and nothing else: the wire contract
(``common.wire``: messages, topics, vocabulary, addresses; pure) and the plumbing every
process uses the same way (``common.mqtt``, ``common.supervision``, ``common.retry``). It
imports none of ``gateway``, ``server`` or ``alerts``; they all import it."""
