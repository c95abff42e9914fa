"""The conversation manager: the one entry point every channel calls."""
