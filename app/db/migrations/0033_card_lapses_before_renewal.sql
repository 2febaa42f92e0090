-- Issue 26 item 3: the card on file will not cover a registration's renewal (it expires before the
-- domain does). The card as the customer knows it ("Visa ending 4242, expires 05/2026"), recorded
-- by the hourly notices when they find it and cleared when a later look finds a card that lasts;
-- NULL: fine, or not looked at. The dashboard shows it with the way to update the card.
ALTER TABLE domains ADD COLUMN IF NOT EXISTS card_lapses_before_renewal text;
