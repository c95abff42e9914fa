"""The flow engine: flow/persona schema, loading and validation, and the pure step function.

Nothing in this package does I/O during a conversation turn; the loader reads files
only when (re)loading the catalog.
"""
