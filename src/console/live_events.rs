//! `GET /console/events`: server-sent events telling an open page that its workspace changed
//! (a message arrived, a status moved), so it fetches itself again. A `refresh` event also
//! comes every few seconds, for changes another instance applied.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::api::AppState;
use crate::console::session::{ConsoleError, ConsoleUser};
use chasqui_domain::Scope;

/// How often a page refreshes anyway.
const REFRESH: Duration = Duration::from_secs(10);

/// The event stream of the user's workspace.
pub async fn stream(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ConsoleError> {
    user.require(Scope::Read)?;
    let workspace = user.principal.workspace_id;
    let rx = state.live.listen();
    let events = stream::unfold((rx, workspace), |(mut rx, workspace)| async move {
        let event = loop {
            match tokio::time::timeout(REFRESH, rx.recv()).await {
                Ok(Ok(ws)) if ws == workspace => break "change",
                Ok(Ok(_)) => continue,
                // Fell behind: whatever was missed, one refresh shows it.
                Ok(Err(RecvError::Lagged(_))) => break "change",
                Ok(Err(RecvError::Closed)) => return None,
                Err(_) => break "refresh",
            }
        };
        // A browser drops an event without data.
        Some((
            Ok(Event::default().event(event).data(event)),
            (rx, workspace),
        ))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
