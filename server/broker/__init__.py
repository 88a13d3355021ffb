"""The broker as the server manages it: who may connect, with which client id, and what each
identity may publish and hear (Mosquitto's dynamic-security plugin)."""
