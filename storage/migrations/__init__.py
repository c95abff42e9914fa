"""Alembic migrations of supportbot's tables (:mod:`storage.tables`).

Run them with :mod:`storage.migrate` (``supportbot db upgrade``); the bot also creates the
tables in an empty database by itself. There is no ``alembic.ini``:
:func:`storage.migrate.alembic_config` builds the configuration, so this works from any
directory and from an installed package.

A new revision, after changing :mod:`storage.tables` (a scratch database at the current
head, then autogenerate against it)::

    python -c "import asyncio, storage.migrate as m; asyncio.run(m.upgrade('sqlite:///rev.db'))"
    python -c "from alembic import command; from storage.migrate import alembic_config; \\
        command.revision(alembic_config('sqlite:///rev.db'), 'what changed', \\
        autogenerate=True, rev_id='0002')"

Review the generated ``versions/0002_what_changed.py`` (autogenerate on SQLite does not
see index predicates, for one) and keep ``tests/storage/test_migrations.py`` green: it
checks that head builds exactly what the models create, on SQLite and PostgreSQL.
"""
