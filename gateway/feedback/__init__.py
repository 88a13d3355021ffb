"""What the patient hears and sees from a hub with no screen: spoken messages (espeak-ng), a
chime (ALSA) and an optional light, for a reading received, confirmed by the server, kept
while offline, due, or to be taken again. ``core`` decides (pure), the rest renders and plays."""
