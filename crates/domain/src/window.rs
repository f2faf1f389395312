//! The 24-hour customer-service window (meta-cloud-api.md §4.4): a business may send any message
//! type within 24 h of the user's latest message to it, and only approved templates otherwise.
//! Meta enforces this itself (error 131047, usually as a `failed` status after an HTTP 200);
//! checking before sending turns that late failure into an immediate, explained refusal.
//!
//! Times are unix milliseconds. Which inbound messages open the window is
//! [`crate::inbound::InboundMessage::opens_window`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{MessageKind, Problem};

/// The [`Problem`] code of a free-form send refused (or warned about) outside the window.
pub const WINDOW_CLOSED: &str = "window_closed";

/// How long the window stays open after the user's latest message: 24 hours, in milliseconds.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// What to do with a free-form send outside the window.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WindowPolicy {
    /// Refuse it before it reaches Meta (the default: a 131047 failure costs money).
    #[default]
    Enforce,
    /// Send it anyway, reporting that Meta will probably fail it.
    Warn,
    /// Do not check: Meta's 131047 is the only judge.
    Off,
}

impl WindowPolicy {
    /// Every policy.
    pub const ALL: [WindowPolicy; 3] = [Self::Enforce, Self::Warn, Self::Off];

    /// The configuration name: `enforce`, `warn` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Warn => "warn",
            Self::Off => "off",
        }
    }

    /// Parses a configuration name, ignoring case and surrounding blanks.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }
}

/// A window policy name that is not `enforce`, `warn` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown window policy {0:?}: expected \"enforce\", \"warn\" or \"off\"")]
pub struct UnknownWindowPolicy(pub String);

impl FromStr for WindowPolicy {
    type Err = UnknownWindowPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownWindowPolicy(s.to_owned()))
    }
}

impl fmt::Display for WindowPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the window closes (exclusive): 24 h after the user's latest message, or `None` when the
/// user never wrote, so there is no window.
pub fn window_open_until(last_inbound_user_message_at_ms: Option<i64>) -> Option<i64> {
    last_inbound_user_message_at_ms.map(|at| at.saturating_add(WINDOW_MS))
}

/// Whether the window is open at `now_ms`: strictly less than 24 h since the latest user message.
///
/// §4.4 closes it when `now - last_inbound_at >= 24h`, so exactly 24 h later it is closed. No
/// clock-skew margin is applied here: §4.4 suggests about 60 s without saying in which direction,
/// and Meta's 131047 stays authoritative either way; a caller wanting one can shift `now_ms`.
pub fn is_window_open(last_inbound_user_message_at_ms: Option<i64>, now_ms: i64) -> bool {
    window_open_until(last_inbound_user_message_at_ms).is_some_and(|until| now_ms < until)
}

/// The verdict on one outbound send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum WindowDecision {
    /// Send it.
    Allowed,
    /// Send it, but the window is closed (policy `warn`): Meta will likely fail it with 131047.
    AllowedWithWarning(Problem),
    /// Do not send it: the window is closed and the policy is `enforce`.
    Refused(Problem),
}

/// Decides whether a message may be sent to a user, given when that user last wrote.
///
/// Templates (`is_template`, or `kind` = template) are always allowed: §4.4 "Outside it, only
/// approved templates may be sent". Every other kind, reactions and interactive messages
/// included, needs an open window: §4.4 allows "any type" inside the window and names no
/// exception outside it. A send is checked against the window at `now_ms` (see
/// [`is_window_open`]); policy `off` skips the check.
pub fn check_free_form(
    policy: WindowPolicy,
    is_template: bool,
    kind: MessageKind,
    last_user_message_at_ms: Option<i64>,
    now_ms: i64,
) -> WindowDecision {
    if policy == WindowPolicy::Off
        || is_template
        || kind == MessageKind::Template
        || is_window_open(last_user_message_at_ms, now_ms)
    {
        return WindowDecision::Allowed;
    }
    let problem = window_closed(kind, last_user_message_at_ms);
    match policy {
        WindowPolicy::Warn => WindowDecision::AllowedWithWarning(problem),
        WindowPolicy::Enforce | WindowPolicy::Off => WindowDecision::Refused(problem),
    }
}

/// The refusal, naming when the window closed so the caller can tell "never opened" from "lapsed".
fn window_closed(kind: MessageKind, last_user_message_at_ms: Option<i64>) -> Problem {
    let since = match window_open_until(last_user_message_at_ms) {
        Some(until) => {
            format!("it closed at {until} (unix ms), 24 hours after the user's last message")
        }
        None => "the user has not written to this number".to_owned(),
    };
    Problem::new(
        "to",
        WINDOW_CLOSED,
        format!(
            "the 24-hour customer service window is closed ({since}); a `{}` message can only be \
             sent inside it: send a template instead (Meta would fail this send with 131047)",
            kind.as_str()
        ),
    )
}

/// The stable code of a refusal to message an opted-out contact.
pub const CONTACT_OPTED_OUT: &str = "contact_opted_out";

/// Refuses a business-initiated message to a contact who opted out. A free-form reply inside
/// the window the person opened is customer care, not business-initiated, so it may still go.
pub fn check_opt_out(
    opted_out: bool,
    kind: MessageKind,
    last_user_message_at_ms: Option<i64>,
    now_ms: i64,
) -> Option<Problem> {
    let reply = kind != MessageKind::Template && is_window_open(last_user_message_at_ms, now_ms);
    (opted_out && !reply).then(|| {
        Problem::new(
            "to",
            CONTACT_OPTED_OUT,
            "the contact opted out of business-initiated messages; only replies inside the \
             24-hour window they open may be sent",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opted_out_contacts_get_only_replies_inside_their_window() {
        let hour = 3_600_000;
        let last = Some(10 * hour);
        assert!(check_opt_out(true, MessageKind::Template, last, 11 * hour).is_some());
        assert!(check_opt_out(true, MessageKind::Text, last, 11 * hour).is_none());
        assert!(check_opt_out(true, MessageKind::Text, last, 34 * hour).is_some());
        assert!(check_opt_out(true, MessageKind::Text, None, 1).is_some());
        assert!(check_opt_out(false, MessageKind::Template, None, 1).is_none());
    }

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn policy_names_round_trip() {
        for policy in WindowPolicy::ALL {
            assert_eq!(WindowPolicy::parse(policy.as_str()), Some(policy));
            assert_eq!(policy.as_str().parse::<WindowPolicy>(), Ok(policy));
            assert_eq!(policy.to_string(), policy.as_str());
        }
        assert_eq!(WindowPolicy::parse(" Warn "), Some(WindowPolicy::Warn));
        assert_eq!(WindowPolicy::parse("ENFORCE"), Some(WindowPolicy::Enforce));
        assert_eq!(WindowPolicy::parse(""), None);
        assert_eq!(
            "strict".parse::<WindowPolicy>(),
            Err(UnknownWindowPolicy("strict".into()))
        );
        assert_eq!(
            serde_json::to_value(WindowPolicy::Enforce).unwrap(),
            serde_json::json!("enforce")
        );
    }

    #[test]
    fn window_lasts_exactly_24_hours() {
        assert_eq!(window_open_until(None), None);
        assert_eq!(window_open_until(Some(T0)), Some(T0 + 86_400_000));
        assert_eq!(window_open_until(Some(i64::MAX)), Some(i64::MAX));
        assert!(is_window_open(Some(T0), T0));
        assert!(is_window_open(Some(T0), T0 + WINDOW_MS - 1));
        assert!(!is_window_open(Some(T0), T0 + WINDOW_MS));
        assert!(!is_window_open(Some(T0), T0 + WINDOW_MS + 1));
        assert!(!is_window_open(None, T0));
        // A user message stamped after `now` (clock skew) still means an open window.
        assert!(is_window_open(Some(T0 + 5_000), T0));
    }

    #[test]
    fn free_form_needs_an_open_window_under_enforce() {
        let check =
            |last, now| check_free_form(WindowPolicy::Enforce, false, MessageKind::Text, last, now);
        assert_eq!(check(Some(T0), T0 + WINDOW_MS - 1), WindowDecision::Allowed);
        let WindowDecision::Refused(problem) = check(Some(T0), T0 + WINDOW_MS) else {
            panic!("closed exactly 24 h later");
        };
        assert_eq!(problem.code, WINDOW_CLOSED);
        assert_eq!(problem.field, "to");
        assert!(problem
            .message
            .starts_with("the 24-hour customer service window is closed"));
        assert!(problem.message.contains("send a template"));
        assert!(problem.message.contains(&(T0 + WINDOW_MS).to_string()));
        let WindowDecision::Refused(never) = check(None, T0) else {
            panic!("no user message means no window");
        };
        assert!(never.message.contains("has not written"));
    }

    #[test]
    fn every_non_template_kind_is_free_form() {
        for kind in MessageKind::ALL {
            let decision = check_free_form(WindowPolicy::Enforce, false, kind, None, T0);
            if kind == MessageKind::Template {
                assert_eq!(decision, WindowDecision::Allowed);
            } else {
                assert!(
                    matches!(decision, WindowDecision::Refused(_)),
                    "{kind:?}: {decision:?}"
                );
            }
        }
    }

    #[test]
    fn templates_are_always_allowed() {
        for policy in WindowPolicy::ALL {
            for last in [None, Some(T0 - 10 * WINDOW_MS), Some(T0)] {
                assert_eq!(
                    check_free_form(policy, true, MessageKind::Template, last, T0),
                    WindowDecision::Allowed
                );
                // The flag alone is enough, whatever kind the caller names.
                assert_eq!(
                    check_free_form(policy, true, MessageKind::Text, last, T0),
                    WindowDecision::Allowed
                );
            }
        }
    }

    #[test]
    fn warn_sends_with_the_problem_and_off_does_not_check() {
        let closed = Some(T0 - WINDOW_MS);
        let WindowDecision::AllowedWithWarning(problem) =
            check_free_form(WindowPolicy::Warn, false, MessageKind::Image, closed, T0)
        else {
            panic!("warn lets it through with a warning");
        };
        assert_eq!(problem.code, WINDOW_CLOSED);
        assert!(problem.message.contains("`image`"));
        assert_eq!(
            check_free_form(WindowPolicy::Warn, false, MessageKind::Image, Some(T0), T0),
            WindowDecision::Allowed
        );
        for last in [None, closed] {
            assert_eq!(
                check_free_form(WindowPolicy::Off, false, MessageKind::Reaction, last, T0),
                WindowDecision::Allowed
            );
        }
    }
}
