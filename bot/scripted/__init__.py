"""Scripted customers played through the real bot.

Both modules here play written conversations — the operator's ``flows/tests/*.yaml``
cases — through the real :class:`~bot.conversation.manager.ConversationManager` and
:class:`~bot.handoff.service.HandoffService`, on a real store:

- :mod:`bot.scripted.flowtest` checks each case's replies (``supportbot flows test``);
- :mod:`bot.scripted.demo` plays them as demo customers to seed a database for the
  reports (``supportbot demo seed``).

They sit together, above the conversation and handoff layers they drive and below the
command line that calls them. Nothing is re-exported here, so importing one does not
import the other.
"""
