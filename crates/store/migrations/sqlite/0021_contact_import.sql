-- The ids other systems gave a contact (respond.io's contact id, a CRM's), per source: a
-- contact import sent again finds the same person instead of creating another, and a vendor
-- dialect resolves the vendor's own ids (respond.io's `id:N`) to that person. One contact may
-- hold several ids of one source (a vendor's duplicates of one person).
CREATE TABLE contact_external_ids (
    workspace_id TEXT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, source, external_id)
);
CREATE INDEX contact_external_ids_contact ON contact_external_ids(contact_id);

-- Imports and `phone:` identifiers find a contact by its phone as well as by its wa_id.
CREATE INDEX contacts_workspace_phone ON contacts(workspace_id, phone) WHERE phone IS NOT NULL;
