"""The CareWatch hub: Bluetooth LE medical devices in, durable MQTT batches out."""
