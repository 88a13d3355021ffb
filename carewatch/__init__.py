"""The ``carewatch`` command: the one composition root above the product's parts. It knows
where each command group lives and loads it only when it is used, so a hub (which installs
only the ``hub`` extra) never imports the server's code."""
