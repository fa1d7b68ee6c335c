"""Audio corruptions (8 types x 5 severities; see docs/corruptions-audio.md): one module per corruption.

Every module here is imported by the corruption registry on first use, so a new
corruption is one new file. Each works on a whole decoded track, ``(C, N)``
float32 in [-1, 1] at ``rate`` Hz, and returns the same shape, dtype and rate.
"""
