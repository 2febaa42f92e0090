"""The billing account behind the Stripe stand-in, composed from one module per resource family.

Every public method takes the transaction's ``Ledger`` (and, for API operations, the
request's ``Params`` plus the ids from the URL) and returns the object to answer; it
raises ``StripeError`` with Stripe's type, code and message. Events are emitted at the
end of an operation, in the order Stripe documents for it, so that each snapshot shows
the finished state.

The families call one another through ``self`` (Checkout creates a customer, a
subscription, an invoice and a payment), which is why they are mixins of one class
rather than separate objects: the state they share is the ledger, passed to every call.
"""

from __future__ import annotations

from .catalog import Catalog
from .checkout import CheckoutSessions
from .clock import Clock
from .customers import Customers
from .discounts import Discounts
from .events import Events
from .invoices import Invoices
from .payment_page import PaymentPage
from .payments import Payments
from .plan_changes import PlanChanges
from .portal_sessions import PortalSessions
from .previews import InvoicePreviews
from .refunds import Refunds
from .subscriptions import Subscriptions


class Billing(Catalog, Discounts, Customers, CheckoutSessions, PaymentPage, Subscriptions, PlanChanges,
              Invoices, InvoicePreviews, PortalSessions, Payments, Refunds, Events, Clock):
    def __init__(self, business_name: str = "mpanel sandbox", payment_retries: int = 3,
                 after_failed_retries: str = "cancel"):
        self.business_name = business_name
        # Failed renewals: automatic retries before the final action ("cancel" the
        # subscription, or mark it "unpaid"), like Stripe's retry settings.
        self.payment_retries = payment_retries
        self.after_failed_retries = after_failed_retries
