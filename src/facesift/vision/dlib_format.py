"""dlib's binary serialization (``dlib/serialize.h``), read and written byte for byte.

Two of our models are dlib files read outside dlib: the face ResNet (converted to ONNX, see
``resnet_onnx``) and the HOG face detector (re-written with other scan settings, see
``hog_scan``). The format's facts:

* An integer is a control byte (low 4 bits: how many bytes follow; bit 7: negative) and then
  its magnitude, little endian; zero is one byte of zero after a control byte of 1.
* A bool is the character '1' or '0'. A string is its length and then its bytes.
* A lone float is two integers, mantissa and exponent (``dlib/float_details.h``).
* A tensor (``dlib/dnn/tensor.h``) is a version, four dimensions and then its values as
  4-byte little-endian floats.
"""

from __future__ import annotations

import math

import numpy as np


class DlibFormatError(ValueError):
    """The file is not the dlib object the reader expected."""


# float_details::is_inf, is_ninf and is_nan: exponents that stand for values.
_SPECIAL_EXPONENTS = {32000: np.inf, 32001: -np.inf, 32002: np.nan}


# The reader's methods are named after dlib's types (int, bool, float), which hides the
# builtins inside the class: its annotations use these names.
Flag = bool
Shape4 = tuple[int, int, int, int]


class DlibReader:
    """Reads a dlib serialization front to back; ``position`` says where it is."""

    def __init__(self, data: bytes):
        self._data = memoryview(data)
        self.position = 0

    def _take(self, size: int) -> memoryview:
        if self.position + size > len(self._data):
            raise DlibFormatError(f"file ends early (wanted {size} bytes at {self.position})")
        chunk = self._data[self.position : self.position + size]
        self.position += size
        return chunk

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def bool(self) -> bool:
        char = bytes(self._take(1))
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"expected a bool at {self.position - 1}, found {char!r}")
        return char == b"1"

    def string(self) -> str:
        return bytes(self._take(self.int())).decode("ascii")

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(_SPECIAL_EXPONENTS.get(exponent, mantissa * 2.0**exponent))

    def tensor(self) -> np.ndarray:
        version = self.int()
        shape = tuple(self.int() for _ in range(4))  # num_samples, k, nr, nc
        count = int(np.prod(shape))
        if version == 2:
            values = np.frombuffer(self._take(4 * count), dtype="<f4")
        elif version == 1:  # older dlib: every value in the portable float format
            values = np.array([self.float() for _ in range(count)], dtype=np.float32)
        else:
            raise DlibFormatError(f"unknown tensor version {version}")
        return values.astype(np.float32).reshape(shape)

    def alias_tensor(self) -> Shape4:
        """A view's shape; the values live in the layer's params tensor."""
        self.expect(self.int(), 1, "alias_tensor version")
        return (self.int(), self.int(), self.int(), self.int())

    def expect(self, found: object, wanted: object, what: str) -> None:
        if found != wanted:
            raise DlibFormatError(
                f"{what}: expected {wanted!r}, found {found!r} near {self.position}"
            )

    def at_end(self) -> Flag:
        return self.position == len(self._data)


def pack_int(value: int) -> bytes:
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def pack_float(value: float) -> bytes:
    """A finite float as dlib writes it: an integer mantissa and a power of two."""
    mantissa, exponent = math.frexp(value)
    # frexp gives a mantissa in [0.5, 1); 53 bits of it make an exact integer.
    whole = int(mantissa * 2**53)
    exponent -= 53
    while whole and whole % 2 == 0:
        whole //= 2
        exponent += 1
    return pack_int(whole) + pack_int(exponent if whole else 0)
