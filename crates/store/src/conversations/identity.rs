//! A contact's BSUID learnt from the status of a message sent to their phone number: Meta's
//! `recipient_user_id`, so a later send or webhook naming the person by BSUID finds the same
//! contact.

use chasqui_domain::phone::wa_id_variants;
use chasqui_domain::WorkspaceId;

use crate::sql::{args, Db};
use crate::{Millis, Result};

/// A phone recipient's BSUID, as one status reported it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserIdLink {
    pub workspace_id: WorkspaceId,
    /// The message's recipient: phone digits.
    pub wa_id: String,
    /// `recipient_user_id`.
    pub user_id: String,
    pub at: Millis,
}

/// Sets each link's BSUID on the contact with that number, in the writer's transaction, unless
/// the contact already has one or another contact holds that BSUID (a person first seen by
/// BSUID: merging two contacts is the identity webhooks' job, not a status's).
pub(crate) async fn link_user_ids(db: &mut dyn Db, links: &[UserIdLink]) -> Result<()> {
    for link in links {
        let forms = wa_id_variants(&link.wa_id);
        let first = forms.first().cloned().unwrap_or_else(|| link.wa_id.clone());
        let second = forms.get(1).cloned().unwrap_or_else(|| first.clone());
        db.execute(
            "UPDATE contacts SET user_id = $1, updated_at = $2 \
             WHERE workspace_id = $3 AND wa_id IN ($4, $5) AND user_id IS NULL \
             AND NOT EXISTS (SELECT 1 FROM contacts WHERE workspace_id = $3 AND user_id = $1)",
            args![&link.user_id, link.at, &link.workspace_id, &first, &second],
        )
        .await?;
    }
    Ok(())
}
