//! The Meta errors a simulated recipient can be made to produce (`recipient_errors`): Meta's
//! codes, titles and details, and whether Meta refuses the call at once or accepts it and then
//! reports the message `failed` in a status webhook.

/// One error a recipient can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedError {
    /// Meta's code.
    pub code: i64,
    /// Meta's title.
    pub title: &'static str,
    /// Meta's `error_data.details`.
    pub details: &'static str,
    /// Refused in the send call's answer (HTTP 400), not in a later status webhook.
    pub at_once: bool,
}

/// Every error `recipient_errors` may name.
pub const INJECTABLE: &[InjectedError] = &[
    InjectedError {
        code: 131026,
        title: "Message undeliverable",
        details: "Message failed to send because the recipient is not a WhatsApp user or cannot receive messages.",
        at_once: false,
    },
    InjectedError {
        code: 131047,
        title: "Re-engagement message",
        details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        at_once: false,
    },
    InjectedError {
        code: 131049,
        title: "This message was not delivered to maintain healthy ecosystem engagement.",
        details: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
        at_once: false,
    },
    InjectedError {
        code: 131050,
        title: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        details: "The recipient stopped marketing messages from this business.",
        at_once: false,
    },
    InjectedError {
        code: 130472,
        title: "User's number is part of an experiment",
        details: "Failed to send message because this user's phone number is part of an experiment.",
        at_once: false,
    },
    InjectedError {
        code: 131056,
        title: "(Business Account, Consumer Account) pair rate limit hit",
        details: "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
        at_once: true,
    },
    InjectedError {
        code: 132018,
        title: "There was an issue with the parameters in your template.",
        details: "The template's parameters do not match what the template expects.",
        at_once: true,
    },
];

/// The error for `code`, when the sandbox can produce it.
pub fn injectable(code: i64) -> Option<&'static InjectedError> {
    INJECTABLE.iter().find(|e| e.code == code)
}
