"""`mpanel keys rotate`: every stored secret sealed again with the newest MPANEL_ENCRYPTION_KEY.

Above the areas because the sealed columns belong to several of them (app/db/sealed.py), and
mail-core keeps the DKIM keys (providers/clients/mailcore.py). The rotation: put the new key
first in MPANEL_ENCRYPTION_KEY (`new,old`), restart, run this, then drop the old key."""
from __future__ import annotations

from dataclasses import dataclass, field

from app import db
from app.db import sealed
from app.services.common import crypto
from app.services.hosting.engine import provider_config
from app.settings import Settings
from providers.clients import mailcore
from providers.core.sealing import InvalidToken


@dataclass
class Rotation:
    resealed: dict[str, int] = field(default_factory=dict)    # "table.column" -> rows
    unreadable: dict[str, int] = field(default_factory=dict)  # sealed with none of our keys: left as they were

    @property
    def complete(self) -> bool:
        return not any(self.unreadable.values())


def rotate(settings: Settings) -> Rotation:
    """Each table in its own transaction (a failure leaves earlier tables resealed, which is
    harmless: both keys open them until the old one is dropped)."""
    def reseal(token: bytes) -> bytes | None:
        try:
            return crypto.reseal(settings, token)
        except InvalidToken:
            return None

    done = Rotation()
    for table, key, column in sealed.SEALED_COLUMNS:
        with db.transaction(settings.DATABASE_URL) as conn:
            name = f"{table}.{column}"
            done.resealed[name], done.unreadable[name] = sealed.reseal_column(conn, table, key, column, reseal)
    if settings.MAILCORE_DATABASE_URL:
        name = "mail-core mail_domains.dkim_private_key"
        done.resealed[name], done.unreadable[name] = mailcore.reseal_keys(provider_config(settings))
    return done
