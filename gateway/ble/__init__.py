"""The hub's Bluetooth shell: scanning, connecting, pairing and subscribing with bleak on BlueZ.

Deliberately thin. Bytes are decoded by ``gateway.gatt``, turned into wire readings by
``gateway.measurements``, and what a device model needs (bonding, clock, characteristics) comes
from ``gateway.catalogue``; this package only moves bytes between the radio and those layers and
survives the radio's moods (devices that wake for a minute, hang up mid-burst, or refuse writes).
"""
