-- A contact's parent business-scoped user id (`US.ENT.…`), shared by the portfolios of one
-- enterprise, as Meta last reported it.
ALTER TABLE contacts ADD COLUMN parent_user_id TEXT;
