-- The customer's registrar-lock choice (issue 14): desired state like auto_renew, carried by the
-- stack's registration resource (domainLock / domainUnlock at NameSilo). NULL: never chosen,
-- the lock is left as the registrar has it (new registrations are locked there).
ALTER TABLE domains ADD COLUMN IF NOT EXISTS registrar_lock boolean;
