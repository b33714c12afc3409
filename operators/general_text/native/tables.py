"""Python's own character classes and lower-case mapping as arrays the C kernels index by code point.

Built from CPython's ``str`` methods, so the kernels agree with ``str.split()``, ``re``'s ``\\w``,
``str.isupper()`` and ``str.lower()`` of the running interpreter, whatever its Unicode version.
"""

import numpy as np

N_CODEPOINTS = 0x110000
VERSION = 2  # bump when the layout or the flags change: part of the cache file name
F_WS, F_WORD, F_UPPER, F_BAD, F_WS3 = 1, 2, 4, 8, 16  # F_WS3: ' ', '\n', '\t'
LOWER_SAME, LOWER_SPECIAL = 0, 0xFFFFFFFF


def build() -> tuple[np.ndarray, np.ndarray]:
    """(flags uint8[0x110000], lower uint32[n]); about 0.5 s, once per process."""
    chars = [chr(c) for c in range(N_CODEPOINTS)]
    flags = np.zeros(N_CODEPOINTS, dtype=np.uint8)
    flags[[c.isspace() for c in chars]] |= F_WS
    flags[[c.isalnum() or c == "_" for c in chars]] |= F_WORD
    # str.isupper() of a token: no character that is lower or title case, at least one upper case.
    # For one character, isupper() is "upper and neither lower nor title"; islower() and
    # istitle()-but-not-isupper() together are exactly "lower or title".
    upper = np.array([c.isupper() for c in chars])
    bad = np.array([c.islower() or (c.istitle() and not c.isupper()) for c in chars])
    flags[upper] |= F_UPPER
    flags[bad] |= F_BAD
    flags[[ord(" "), ord("\n"), ord("\t")]] |= F_WS3
    lowered = [c.lower() for c in chars]
    changed = [i for i, (c, low) in enumerate(zip(chars, lowered, strict=True)) if c != low]
    size = max(changed) + 1
    lower = np.zeros(size, dtype=np.uint32)
    for i in changed:
        low = lowered[i]
        # U+0130 lowers to two code points; U+03A3 to final or medial sigma by context: Python answers
        lower[i] = LOWER_SPECIAL if len(low) != 1 or i == 0x03A3 else ord(low)
    lower[0x03A3] = LOWER_SPECIAL
    return flags, lower
