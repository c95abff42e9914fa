"""The pure step function: ``step(context, state, event) -> (new_state, effects)``.

It routes by conversation status (new, menu, choosing a persona, in a flow, with a
person), understands free text, runs flow steps until one waits for the customer, and
never does I/O — the manager applies the effects. Every reply that waits for the
customer offers a way forward (buttons, the menu, or a person): no dead ends.

One module per concern, each a set of functions over one :class:`~.turn.Turn` (the
turn's shared state and effects); imports run one way, top to bottom::

    dispatch      step(), resume_after_person(): by status and by what is awaited
    routing       free text → flow, "Did you mean", deep links, commands
    persona       choosing and switching the persona
    checkpoints   "Done? / I'm stuck", help for the stuck
    actions       a custom action's result
    answers       answers to ask steps, typed button choices, "which one do you mean?"
    ahead         answers given before their question was asked
    running       starting flows, entering steps, resolving
    prompts       asking what is awaited, asking again, misunderstandings
    rating        the satisfaction rating
    handoff       what the bot says while a person owns the chat
    menu          greeting, menu, offer of a person, handoff, end
    turn, words   the shared turn context; fixed phrases (greetings, thanks, yes/stuck)
"""

from bot.engine.dialogue.dispatch import resume_after_person, step
from bot.engine.dialogue.turn import Context

__all__ = ["Context", "resume_after_person", "step"]
