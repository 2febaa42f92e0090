"""The Stripe stand-in's billing model (``Billing``) and what its callers catch or pass in."""

from .clock import CLOCK_OUTCOMES, ClockError
from .model import Billing
from .payment_page import CheckoutClosed, FormProblem, PaymentEntry, PaymentResult

__all__ = ["CLOCK_OUTCOMES", "Billing", "CheckoutClosed", "ClockError", "FormProblem", "PaymentEntry",
           "PaymentResult"]
