"""Decoded GATT measurements → wire ``Reading``s. Pure: no I/O, no clock reads, no BLE.

Two layers, so the BLE session code stays thin:

* ``mapping.to_readings`` maps ONE decoded spot measurement (BP, PLX spot-check, weight, temperature) to
  wire readings, or a ``refusals.Refusal`` saying why it is not a reading. Stateless.
* ``assembler.ReadingAssembler`` is what a connected device's session feeds every notification to: it
  decodes with the model's quirks, reassembles the BerryMed stream, condenses continuous streams into one
  spot reading per steady window (``continuous``, and ``gateway.gatt.berrymed`` for BerryMed), and calls
  ``to_readings``. Stateful per connection, still pure.

``status`` turns device status words into flags for both, ``wire_ids`` gives a reading its id.

Rules that live here and nowhere else:

* Canonical units come from the decoders (mmHg, %, /min, kg, m, °C); special values (NaN, NRes, "not
  available") are ``None`` there and simply absent here. When a measure the reading kind cannot do
  without is absent, there is no reading and the ``Refusal`` says which measure: the hub logs it and keeps
  the raw packet, it never sends a half reading.
* Intermediate cuff pressure and continuous frames are not readings (a nurse does not chart the cuff
  inflating); continuous streams become readings only through the aggregators.
* A device stating its own data is invalid, unavailable, or for demonstration/testing is refused, so a
  demonstration value can never reach a patient record.
* Device-local naive timestamps get the hub's time zone; whether the device clock is trusted is
  ``gateway.reading_builder.build_reading``'s decision, not ours.
* ``reading_id`` is deterministic for device-timestamped readings (see ``wire_ids.reading_id_for``).
"""
