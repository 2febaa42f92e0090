-- The password a customer chose for a mailbox they added, Fernet-encrypted, until a converge
-- has set it in mail-core (then it is cleared: the hash there and the stack's secret remain).
ALTER TABLE mailboxes ADD COLUMN password_encrypted bytea;
