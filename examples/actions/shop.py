"""The demo web shop's data: a few orders, refunds and accounts in a SQLite database.

The database URL comes from ``$SHOP_DATABASE_URL`` (default ``sqlite:///shop.db``, i.e. a
file in the working directory). On first use in a process the tables are created if missing
and, when there are no orders yet, the sample rows are inserted, so the demo works out of
the box. ``seed_demo_data()`` (what ``supportbot demo seed`` calls) resets them.

Everything here is synchronous (SQLModel on a plain SQLAlchemy engine); the actions call it
through ``asyncio.to_thread`` so the event loop never waits on the database. The tables use
their own metadata, not ``SQLModel.metadata``, so they never mix with the bot's own tables
or migrations even when both live in one database.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, delete, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, create_engine, select

DATABASE_URL_ENV = "SHOP_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///shop.db"
TRACKING_URL = "https://track.shop.example/{number}"
PASSWORD_LINK_VALIDITY = timedelta(hours=1)

logger = logging.getLogger(__name__)


class ShopModel(SQLModel, registry=registry()):
    """Base of the shop's tables (own metadata: ``ShopModel.metadata``)."""


class Order(ShopModel, table=True):
    __tablename__ = "orders"

    number: str = Field(primary_key=True)  # "WS-10001"
    email: str = Field(index=True)
    status: str  # "shipped", "delivered", "being packed", "cancelled"
    carrier: str
    tracking_url: str
    amount_cents: int
    currency: str = "EUR"
    placed_on: date
    eta_from: date | None = None  # expected delivery, earliest day
    eta_to: date | None = None  # expected delivery, latest day
    delivered_on: date | None = None


class Refund(ShopModel, table=True):
    __tablename__ = "refunds"

    id: int | None = Field(default=None, primary_key=True)
    order_number: str = Field(foreign_key="orders.number", index=True)
    status: str  # "issued" or "pending"
    amount_cents: int
    currency: str = "EUR"
    requested_on: date
    issued_on: date | None = None
    expected_business_days: int | None = None  # pending: paid out within this many


class Account(ShopModel, table=True):
    __tablename__ = "accounts"

    email: str = Field(primary_key=True)
    name: str


class PasswordLink(ShopModel, table=True):
    """A password-reset link the shop "sent" (times in UTC)."""

    __tablename__ = "password_link"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True)
    token: str
    created_at: datetime
    expires_at: datetime


_TABLES = [
    ShopModel.metadata.tables[name] for name in ("orders", "refunds", "accounts", "password_link")
]
_engines: dict[str, Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


def database_url() -> str:
    """The shop database's URL: ``$SHOP_DATABASE_URL`` or ``sqlite:///shop.db``."""
    return os.environ.get(DATABASE_URL_ENV, "").strip() or DEFAULT_DATABASE_URL


def utc_today() -> date:
    return datetime.now(UTC).date()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        if in_memory:
            return create_engine(
                url, connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        return create_engine(url, connect_args={"check_same_thread": False})
    return create_engine(url, pool_pre_ping=True)


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: :func:`database_url`), its tables ready and seeded.

    Engines are cached per URL, so changing ``$SHOP_DATABASE_URL`` (as tests do) switches
    databases instead of reusing the first one.
    """
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        if url not in _ready:
            ShopModel.metadata.create_all(engine, tables=_TABLES)
            _seed_if_empty(engine)
            _ready.add(url)
    return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, or a process that is shutting down)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


def sample_rows(today: date) -> list[ShopModel]:
    """The demo shop's rows, dates relative to ``today``; orders come first."""
    day = timedelta(days=1)

    def order(number: str, **fields: object) -> Order:
        return Order.model_validate(
            {"number": number, "tracking_url": TRACKING_URL.format(number=number), **fields}
        )

    return [
        order(
            "WS-10001",
            email="ann@example.com",
            status="shipped",
            carrier="DHL",
            amount_cents=5990,
            placed_on=today - 2 * day,
            eta_from=today + day,
            eta_to=today + day,
        ),
        order(
            "WS-10002",
            email="ben@example.com",
            status="delivered",
            carrier="UPS",
            amount_cents=8950,
            placed_on=today - 6 * day,
            delivered_on=today - 2 * day,
        ),
        order(
            "WS-10003",
            email="ann@example.com",
            status="being packed",
            carrier="DPD",
            amount_cents=2450,
            placed_on=today,
            eta_from=today + 3 * day,
            eta_to=today + 4 * day,
        ),
        order(
            "WS-10004",
            email="cara@example.com",
            status="shipped",
            carrier="DHL",
            amount_cents=12900,
            placed_on=today - day,
            eta_from=today + 3 * day,
            eta_to=today + 3 * day,
        ),
        order(
            "WS-10005",
            email="ben@example.com",
            status="cancelled",
            carrier="GLS",
            amount_cents=4990,
            placed_on=today - 5 * day,
        ),
        Refund(
            order_number="WS-10005",
            status="issued",
            amount_cents=4990,
            requested_on=today - 4 * day,
            issued_on=today - 2 * day,
        ),
        Refund(
            order_number="WS-10002",
            status="pending",
            amount_cents=1990,
            requested_on=today - day,
            expected_business_days=5,
        ),
        Account(email="ann@example.com", name="Ann"),
        Account(email="ben@example.com", name="Ben"),
        Account(email="cara@example.com", name="Cara"),
    ]


def _insert_samples(session: Session) -> int:
    rows = sample_rows(utc_today())
    orders = [row for row in rows if isinstance(row, Order)]
    session.add_all(orders)
    session.flush()  # orders before the refunds that point at them
    for row in rows:
        if isinstance(row, Account):
            session.merge(row)  # an account of the same email may exist already
        elif not isinstance(row, Order):
            session.add(row)
    return len(orders)


def _seed_if_empty(engine: Engine) -> None:
    with Session(engine) as session:
        if session.exec(select(func.count()).select_from(Order)).one():
            return
        try:
            _insert_samples(session)
            session.commit()
        except IntegrityError:  # most likely another process seeded it at the same moment
            session.rollback()
            logger.warning("shop database: seeding the sample data failed", exc_info=True)


def seed_demo_data(url: str | None = None) -> int:
    """Reset the shop database at ``url`` (default ``$SHOP_DATABASE_URL``) to the samples.

    Creates the tables if needed, deletes every order, refund, account and sent password
    link, and inserts the sample rows with dates relative to today (UTC). Returns how many
    orders it inserted.
    """
    url = url or database_url()
    engine = get_engine(url)
    with Session(engine) as session:
        for model in (PasswordLink, Refund, Account, Order):
            session.execute(delete(model))
        count = _insert_samples(session)
        session.commit()
    return count


def find_order(number: str, url: str | None = None) -> Order | None:
    with Session(get_engine(url)) as session:
        return session.get(Order, number)


def find_refund(order_number: str, url: str | None = None) -> Refund | None:
    """The order's most recent refund, if any."""
    with Session(get_engine(url)) as session:
        query = (
            select(Refund)
            .where(Refund.order_number == order_number)
            .order_by(Refund.requested_on.desc(), Refund.id.desc())  # type: ignore[attr-defined,union-attr]
        )
        return session.exec(query).first()


def find_account(email: str, url: str | None = None) -> Account | None:
    with Session(get_engine(url)) as session:
        return session.get(Account, email)


def send_password_link(email: str, url: str | None = None) -> PasswordLink | None:
    """Record a new reset link for the account ``email``; None when there is no account.

    (The demo shop sends no mail: the row in ``password_link`` is the "sent" link.)
    """
    with Session(get_engine(url), expire_on_commit=False) as session:
        if session.get(Account, email) is None:
            return None
        now = utc_now()
        link = PasswordLink(
            email=email,
            token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + PASSWORD_LINK_VALIDITY,
        )
        session.add(link)
        session.commit()
        return link


def password_links(email: str | None = None, url: str | None = None) -> list[PasswordLink]:
    """The reset links sent so far (to ``email`` only, when given), oldest first."""
    with Session(get_engine(url)) as session:
        query = select(PasswordLink).order_by(PasswordLink.id)  # type: ignore[arg-type]
        if email is not None:
            query = query.where(PasswordLink.email == email)
        return list(session.exec(query).all())
