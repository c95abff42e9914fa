"""The bot's own wording (greeting, menu, re-prompts ...), overridable per persona.

Every text is a template with the same variables as flow texts plus the extra ones
named in the comment. Operators override any key in a persona file's ``messages:``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.engine.templates import render

DEFAULT_WORDING: dict[str, str] = {
    "greeting": "Hi{% if customer.first_name %} {{ customer.first_name }}{% endif %}! "
    "I'm the support assistant. How can I help?",
    "greeting_returning": "Welcome back, {{ customer.first_name }}!"
    "{% if last_topic %} Last time we talked about “{{ last_topic }}”.{% endif %}"
    " How can I help today?",
    "menu_prompt": "Pick a topic below, or just tell me what's wrong in your own words.",
    "persona_question": "Before we start: how do you like to be helped?",
    "persona_chosen": "Got it — {{ persona }}. You can switch any time.",
    "persona_switched": "Sure — switching to “{{ persona }}”.",
    "did_you_mean": "Did you mean one of these?",
    "did_you_mean_none": "None of these",
    "which_value": "I see more than one there — which one do you mean?",
    "value_noted": "Got it — {{ value }}.",
    "switch_offer": "That sounds like something else. Shall we look at that instead?",
    "button_carry_on": "No, carry on here",
    "not_understood": "Sorry, I didn't catch that.",
    "not_understood_menu": "Sorry, I didn't understand. Pick a topic below, or type “person” "
    "to talk to a person.",
    "reprompt_choices": "Please choose one of the options below (or type “menu” or “person”).",
    "offer_person": "I'm having trouble helping with this. Would you like to talk to a person?",
    "offer_persona": "Would you like me to walk you through it differently?",
    "help": "I can help with the topics in the menu — tap one or describe your problem. "
    "Type “menu” at any time to start over, or “person” to talk to a person.",
    "stale_button": "That button belongs to an earlier message. Here's where we are:",
    "non_text": "Thanks! I can only read text messages for now — could you describe it in words?",
    "expect_photo": "Please send a photo: tap 📎 and pick one from your camera or gallery.",
    "expect_file": "Please send the file: tap 📎 to attach it.",
    "file_too_large": "That file is too large for me to pass on ({{ size }}; {{ limit }} at "
    "most). Could you send a smaller one, or a link to it?",
    "handoff_file_kept": "Got it — I've added that to your request. A person will see it "
    "and reply here.",
    "empty_message": "It looks like that message was empty. How can I help?",
    "flood_notice": "I've read all your messages — I'll answer the latest one in a moment.",
    "handoff_default": "I'm connecting you with a person. They'll reply right here.",
    "handoff_queue": "You're number {{ position }} in line"
    "{% if minutes %}, about {{ minutes }} minute{{ 's' if minutes != 1 }}{% endif %}. "
    "Add any details here and I'll pass them on, or type “menu” to go back to the bot.",
    "handoff_out_of_hours": "Our team is offline right now"
    "{% if back %} — they're back {{ back }}{% endif %}. Tell me what you need here, and a "
    "person will answer you in this chat.",
    "handoff_timeout": "Sorry for the wait — everyone is busy right now. Your request stays "
    "open, and a person will answer you right here.",
    "handoff_position": "You're now number {{ position }} in line.",
    "handoff_waiting": "Got it — I've added that to your request. A person will reply here "
    "soon; type “menu” to go back to the bot.",
    "handoff_confirm_leave": "You're talking with a person right now. Leave and go back to "
    "the bot?",
    "agent_joined": "{{ agent }} from our team has joined. You can talk to them right here.",
    "handoff_stay": "OK — you're still with the person.",
    "back_with_bot": "You're back with the bot. Let's continue where we left off.",
    "back_with_bot_menu": "You're back with the bot. Anything else I can help with?",
    "button_leave": "Yes, back to the bot",
    "button_stay": "No, stay",
    "handoff_already": "You're already in line for a person — they'll reply right here.",
    "handoff_cancelled": "OK, I've cancelled the request for a person.",
    "resolved_default": "Glad I could help!",
    "rating_question": "How did we do?",
    "rating_after_person": "You're back with the bot. How did we do?",
    "rating_nudge": "You're welcome! Before you go — how did we do?",
    "rating_thanks": "Thank you!{% if score == 5 and recommend_url %} If you liked it, "
    "we'd love a recommendation: {{ recommend_url }}{% endif %} Anything we could do better?",
    "rating_low": "I'm sorry we let you down. What went wrong? A person can also follow up "
    "with you.",
    "rating_comment_thanks": "Thanks — that helps us improve.",
    "rating_late": "Thanks for the feedback!",
    "button_skip": "Skip",
    "you_are_welcome": "You're welcome! If anything else comes up, I'm here.",
    "anything_else": "Anything else? Type “menu” to see all topics.",
    "action_failed": "Sorry, I couldn't look that up right now.",
    "answer_too_long": "That's longer than I can take here ({{ limit }} characters at most). "
    "Could you shorten it?",
    "invalid_answer": "That doesn't look right.",
    "invalid_number": "Please enter a number.",
    "invalid_email": "Please enter an email address like name@example.com.",
    "invalid_one_of": "Please answer with one of: {{ options }}.",
    "number_too_small": "Please enter a number of at least {{ limit }}.",
    "number_too_large": "Please enter a number of at most {{ limit }}.",
    "button_menu": "Main menu",
    "button_person": "Talk to a person",
    "button_keep_trying": "Keep trying",
}


def say(
    key: str,
    overrides: Mapping[str, str],
    customer: Mapping[str, Any],
    **values: Any,
) -> str:
    """The text for ``key``: the persona's override if any, else the default."""
    source = overrides.get(key) or DEFAULT_WORDING[key]
    return render(source, customer, values)
