"""What the two mail-core resources (providers/resources/mail_domain.py, mailbox.py) share: the
client, its timeout, and ownership read from the row's `owner` mark. Not a provider itself
(no KIND): each subclass is stored by its own kind (providers/stored.py)."""
from __future__ import annotations

from providers.clients.mailcore import MailCoreClient
from providers.core.config import current
from providers.core.resource import ProviderAdapter


class OnMailCore(ProviderAdapter):
    CUSTOMER_DATA = True
    timeout = 10.0

    def client(self) -> MailCoreClient:
        return MailCoreClient(current(), self.retry, self.timeout)

    def owns(self, found, props):
        return found["owner"] == props["owner"]
