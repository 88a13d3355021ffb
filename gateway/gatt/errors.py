"""The one exception a decoder may raise, so the hub can drop a bad packet with one ``except``."""

from __future__ import annotations

__all__ = ["DecodeError", "UnknownQuirkError"]


class DecodeError(ValueError):
    """Malformed, truncated or reserved-valued characteristic data.

    It subclasses ``ValueError`` so generic callers still catch it, but the hub catches exactly this class:
    anything else escaping a decoder is a bug in the decoder, not a bad packet, and must not be swallowed.
    The message always names the characteristic and the reason, because it ends up in device-support
    tickets where the raw bytes are all anyone has.
    """


class UnknownQuirkError(LookupError):
    """A device catalogue names a quirk this code does not know.

    Deliberately *not* a ``DecodeError``: a typo in the catalogue is a configuration fault that would
    otherwise make every packet from that device look malformed and be silently dropped. It should fail
    loudly when the catalogue is loaded (see ``quirks.validate_quirk_names``).
    """
