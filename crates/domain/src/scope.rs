//! What a credential may do: the scopes of API keys and user sessions.

use std::fmt;

/// One permission. Every authenticated route requires exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Send messages and upload media.
    Send,
    /// Read messages, contacts, conversations and media.
    Read,
    /// Change contacts.
    Contacts,
    /// List, submit and sync templates.
    Templates,
    /// Manage the workspace's outgoing webhooks.
    Webhooks,
    /// The operator: workspaces, channels, keys and users of every workspace.
    Admin,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 6] = [
        Scope::Send,
        Scope::Read,
        Scope::Contacts,
        Scope::Templates,
        Scope::Webhooks,
        Scope::Admin,
    ];

    /// The scope's name in keys, tokens and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Read => "read",
            Self::Contacts => "contacts",
            Self::Templates => "templates",
            Self::Webhooks => "webhooks",
            Self::Admin => "admin",
        }
    }

    /// The scope named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes (a bit set: cheap to copy and check on every request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// No scope.
    pub const EMPTY: ScopeSet = ScopeSet(0);

    fn bit(s: Scope) -> u8 {
        1 << (s as u8)
    }

    /// Every scope, admin included.
    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    /// What a business's own key needs: everything but admin.
    pub fn tenant() -> Self {
        Self::all().without(Scope::Admin)
    }

    /// Whether `s` is in the set.
    pub fn contains(self, s: Scope) -> bool {
        self.0 & Self::bit(s) != 0
    }

    /// The set with `s` added.
    pub fn with(self, s: Scope) -> Self {
        Self(self.0 | Self::bit(s))
    }

    /// The set without `s`.
    pub fn without(self, s: Scope) -> Self {
        Self(self.0 & !Self::bit(s))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes, in display order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Parses names separated by spaces or commas; the unknown names are the error.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let mut set = Self::EMPTY;
        let mut unknown = Vec::new();
        for name in text.split([' ', ',']).filter(|n| !n.is_empty()) {
            match Scope::parse(name) {
                Some(s) => set = set.with(s),
                None => unknown.push(name.to_string()),
            }
        }
        if unknown.is_empty() {
            Ok(set)
        } else {
            Err(unknown)
        }
    }

    /// The set a store kept: unknown names (from a newer version, say) grant nothing.
    pub fn from_stored(text: &str) -> Self {
        text.split(' ').filter_map(Scope::parse).collect()
    }

    /// The names, space separated (how the store keeps them).
    pub fn to_text(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_by_name() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("Send"), None);
    }

    #[test]
    fn sets_parse_from_text_and_back() {
        let set = ScopeSet::parse("read, send  admin").unwrap();
        assert!(set.contains(Scope::Send) && set.contains(Scope::Read));
        assert!(set.contains(Scope::Admin) && !set.contains(Scope::Templates));
        assert_eq!(set.to_text(), "send read admin");
        assert_eq!(ScopeSet::parse(&set.to_text()), Ok(set));
        assert_eq!(ScopeSet::parse(""), Ok(ScopeSet::EMPTY));
    }

    #[test]
    fn unknown_names_are_all_reported() {
        assert_eq!(
            ScopeSet::parse("send root superuser"),
            Err(vec!["root".to_string(), "superuser".to_string()])
        );
    }

    #[test]
    fn tenant_scopes_exclude_admin_only() {
        let t = ScopeSet::tenant();
        assert!(!t.contains(Scope::Admin));
        assert_eq!(t.iter().count(), Scope::ALL.len() - 1);
        assert_eq!(ScopeSet::all().without(Scope::Admin), t);
    }
}
