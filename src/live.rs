//! Notices that something changed in a workspace (a message arrived, a status moved, a reply
//! went), for the views that show it live (the console's server-sent events). A notice says
//! only which workspace: a view fetches what it shows again, through the same reads as ever.
//!
//! Notices are in-process. With several instances on one PostgreSQL, a change applied by
//! another instance reaches this one's views at their next periodic refresh.

use chasqui_domain::WorkspaceId;
use tokio::sync::broadcast;

/// How many notices a slow view may fall behind by before it just refreshes.
const BACKLOG: usize = 256;

/// The notice board: cheap to clone, every clone the same board.
#[derive(Debug, Clone)]
pub struct Live {
    tx: broadcast::Sender<WorkspaceId>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Live {
    /// Says that `workspace` changed; nobody listening is fine.
    pub fn changed(&self, workspace: &WorkspaceId) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(workspace.clone());
        }
    }

    /// Says that each of `workspaces` changed, once each.
    pub fn changed_all<'a>(&self, workspaces: impl IntoIterator<Item = &'a WorkspaceId>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let mut seen: Vec<&WorkspaceId> = Vec::new();
        for w in workspaces {
            if !seen.contains(&w) {
                seen.push(w);
                self.changed(w);
            }
        }
    }

    /// A new listener, hearing every notice from now on.
    pub fn listen(&self) -> broadcast::Receiver<WorkspaceId> {
        self.tx.subscribe()
    }
}
