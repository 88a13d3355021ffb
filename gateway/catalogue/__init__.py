"""The declarative device catalogue: which BLE devices the hub supports and how to talk to them.

Every supported model is one YAML file (fields documented in ``firmware-config/devices/README.md``).
Supporting another device that speaks a standard Bluetooth SIG profile is a YAML file, never code: the
decoder is chosen by characteristic UUID (``gateway.gatt.decode``), deviations are named quirks, and
everything session-related (bonding, clock setting, stored-reading behaviour) is data.

One job per module:

* ``models``: what a file may declare (``DeviceModel`` and its parts), validated field by field;
* ``loader``: reading the YAML files and naming the file and field of every mistake; where the shipped
  files are (``devices/``, package data, found with ``importlib.resources``);
* ``matching``: the loaded catalogue, answering "which model is this advertisement?";
* ``errors``: ``CatalogueError``.

``devices`` is a symlink to ``firmware-config/devices``, where people edit and read the files; a wheel
holds copies of them (setuptools follows the link when it collects package data), so a checkout and an
installed hub find them the same way.

Pure apart from the loader reading files: no BLE, no asyncio, no network, so the hub, the simulator, the
server's pairing check, the tests and support tooling share it.
"""
