"""Audio corruptions, registered on import."""
