"""Resource names and role assignment names shared with the Bicep templates.

The Bicep path derives names with ARM's ``uniqueString()`` and names role
assignments with ``guid()``. This module computes the same values in Python,
so that ``azd up`` and the notebooks create and find the same resources.
"""

from __future__ import annotations

import uuid

_MASK32 = 0xFFFFFFFF
_BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

# ARM's guid() is a version 5 UUID in this namespace over the arguments joined with "-".
ARM_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


def _rotl32(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK32


def _fmix32(value: int) -> int:
    value = ((value ^ (value >> 16)) * 0x85EBCA6B) & _MASK32
    value = ((value ^ (value >> 13)) * 0xC2B2AE35) & _MASK32
    return value ^ (value >> 16)


def _as_int32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def _murmur64(data: bytes) -> int:
    """Hash bytes with the 64-bit MurmurHash variant behind ARM's uniqueString()."""
    c1, c2 = 0xAB0E9789, 0x239B961B
    h1 = h2 = 0
    length = len(data)
    index = 0

    while index + 8 <= length:
        k1 = int.from_bytes(data[index : index + 4], "little")
        k2 = int.from_bytes(data[index + 4 : index + 8], "little")

        k1 = (_rotl32((k1 * c2) & _MASK32, 15) * c1) & _MASK32
        k2 = (_rotl32((k2 * c1) & _MASK32, 17) * c2) & _MASK32

        h1 = (_rotl32(h1 ^ k1, 19) + h2) & _MASK32
        h1 = (_as_int32(h1) * 5 + 0x561CCD1B) & _MASK32
        h2 = (_rotl32(h2 ^ k2, 13) + h1) & _MASK32
        h2 = (_as_int32(h2) * 5 + 0x0BCAA747) & _MASK32
        index += 8

    remaining = length - index
    if remaining > 0:
        k1 = int.from_bytes(data[index : index + min(remaining, 4)], "little")
        h1 ^= (_rotl32((k1 * c2) & _MASK32, 15) * c1) & _MASK32

        if remaining > 4:
            k2 = int.from_bytes(data[index + 4 : length], "little")
            h2 ^= (_rotl32((k2 * c1) & _MASK32, 17) * c2) & _MASK32

    r0 = (h2 ^ length) & _MASK32
    r1 = ((h1 ^ length) + r0) & _MASK32
    r2 = (r0 + r1) & _MASK32
    r1 = _fmix32(r1)
    r2 = _fmix32(r2)
    r1 = (r1 + r2) & _MASK32
    r2 = (r2 + r1) & _MASK32
    return (r2 << 32) | r1


def unique_string(*values: str) -> str:
    """Compute ARM's ``uniqueString(values...)``: 13 base-32 characters.

    Args:
        *values (`str`): the strings Bicep passes, joined with ``-`` before hashing.
            The hash is case-sensitive, as in ARM.

    Raises:
        ValueError: no value was given.

    Example:
        >>> unique_string("test")
        'rbgf3xv4ufgzg'
    """
    if not values:
        raise ValueError("unique_string() needs at least one value.")

    digest = _murmur64("-".join(values).encode("utf-8"))
    characters = []
    for _ in range(13):
        characters.append(_BASE32_ALPHABET[(digest >> 59) & 31])
        digest = (digest << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(characters)


def arm_guid(*values: str) -> str:
    """Compute ARM's ``guid(values...)``, used for role assignment names.

    Example:
        >>> arm_guid("a", "b", "c") == str(uuid.uuid5(ARM_GUID_NAMESPACE, "a-b-c"))
        True
    """
    return str(uuid.uuid5(ARM_GUID_NAMESPACE, "-".join(values)))
