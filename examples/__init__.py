"""Examples shipped with supportbot (the demo web shop's custom actions live in ``actions``)."""
