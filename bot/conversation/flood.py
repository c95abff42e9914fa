"""A chat that writes faster than a person can: the sliding window that tells.

More than :attr:`FloodPolicy.messages` messages within :attr:`FloodPolicy.window_seconds`
and the chat is *flooding*: :mod:`bot.conversation.arrivals` stops answering it message
by message. It has *calmed* once it is back under that rate, or once it has been quiet
for :attr:`FloodPolicy.calm_seconds` — whichever comes first, so a customer who pasted
twenty lines is answered a moment after the last one, not a whole window later.

Pure bookkeeping over the times the caller gives (a monotonic clock); no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FloodPolicy:
    """SUPPORTBOT_FLOOD_*: when a chat counts as flooding, and when as calm again."""

    messages: int = 8
    """More than this many messages within the window is a flood; 0 turns detection off."""
    window_seconds: float = 10.0
    calm_seconds: float = 3.0
    """Quiet this long and a flooding chat is answered (its latest messages)."""

    @property
    def enabled(self) -> bool:
        return self.messages > 0


OFF = FloodPolicy(messages=0)


class FloodWatch:
    """The arrival times of one chat (the last ``messages + 1`` are enough)."""

    __slots__ = ("_policy", "_times", "flooding")

    def __init__(self, policy: FloodPolicy) -> None:
        self._policy = policy
        self._times: deque[float] = deque(maxlen=policy.messages + 1)
        self.flooding = False

    def arrive(self, now: float) -> bool:
        """Count a message that arrived at ``now``; True while the chat floods."""
        self._times.append(now)
        times = self._times
        if not self.flooding and len(times) == times.maxlen:
            self.flooding = now - times[0] <= self._policy.window_seconds
        return self.flooding

    def calm_at(self) -> float:
        """When a flooding chat counts as calm, unless more messages come before.

        Back under the rate: the oldest of the last ``messages + 1`` arrivals has left the
        window. Quiet: ``calm_seconds`` after the last one."""
        quiet = self._times[-1] + self._policy.calm_seconds
        return min(quiet, self._times[0] + self._policy.window_seconds)

    def calm(self) -> None:
        """The chat calmed: forget its history, so its next message is answered at once."""
        self.flooding = False
        self._times.clear()

    def forgettable(self, now: float) -> bool:
        """Nothing worth remembering: not flooding, no message within the window."""
        return not self.flooding and (
            not self._times or now - self._times[-1] > self._policy.window_seconds
        )
