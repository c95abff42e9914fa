"""supportbot: a chat-based customer-support bot.

Dependencies point one way: channels -> conversation -> engine; ``storage`` never
imports ``bot``.
"""

__version__ = "0.1.0"
