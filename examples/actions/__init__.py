"""rasa-sdk custom actions of the demo web shop.

Load them in-process with ``ActionExecutor().register_package("examples.actions")`` or serve
them with ``python -m rasa_sdk --actions examples.actions`` (from the repository root).

Actions: ``order_status``, ``refund_status``, ``resend_password_link`` and the form
validation ``validate_order_form``. They read a small sample shop from the SQLite database
at ``$SHOP_DATABASE_URL`` (default ``sqlite:///shop.db`` in the working directory), which is
created and seeded on first use; ``seed_demo_data()`` resets it.
"""

from examples.actions.shop import DATABASE_URL_ENV, database_url, seed_demo_data

__all__ = ["DATABASE_URL_ENV", "database_url", "seed_demo_data"]
