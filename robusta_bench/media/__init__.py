"""Media I/O with PyAV: probing, decoding, encoding."""

from .decode import DecodeStats, MediaError, NoAudioStream, iter_frames, read_audio, read_frames

__all__ = ["DecodeStats", "MediaError", "NoAudioStream", "iter_frames", "read_audio", "read_frames"]
