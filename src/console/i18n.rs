//! The console's words, one Fluent catalogue per language (`locales/*.ftl`, compiled into the
//! binary). Spanish comes first: it is the default whenever the browser does not ask for English.

use std::sync::LazyLock;

use axum::http::{header, HeaderMap};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Spanish (Latin America).
    Es,
    /// English.
    En,
}

impl Lang {
    /// The `lang` attribute of pages in this language.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// The language a request asks for: a `lang` cookie chosen in the console, else the first
    /// of `Accept-Language` the console speaks, else Spanish.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        if let Some(chosen) = super::session::cookie(headers, super::session::LANG_COOKIE) {
            if let Some(lang) = Self::parse(&chosen) {
                return lang;
            }
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut asked: Vec<(f32, &str)> = accept
            .split(',')
            .filter_map(|part| {
                let mut it = part.trim().split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                Some((q, tag))
            })
            .collect();
        // A stable sort keeps the browser's order among equal weights.
        asked.sort_by(|a, b| b.0.total_cmp(&a.0));
        asked
            .into_iter()
            .find_map(|(_, tag)| Self::parse(tag))
            .unwrap_or(Lang::Es)
    }

    /// `es`, `es-MX`, `en-US`, ...: the console's language for that tag, if it speaks it.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Lang::Es),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    fn bundle(self) -> &'static FluentBundle<FluentResource> {
        match self {
            Lang::Es => &ES,
            Lang::En => &EN,
        }
    }

    /// Whether the catalogue has message `id`.
    pub fn has(self, id: &str) -> bool {
        self.bundle().has_message(id)
    }

    /// The label of a message type (`kind-image`, ...; `kind-other` for one it does not name).
    pub fn kind(self, kind: &str) -> String {
        let id = format!("kind-{kind}");
        if self.has(&id) {
            self.t(&id)
        } else {
            self.t("kind-other")
        }
    }

    /// The text of message `id`.
    pub fn t(self, id: &str) -> String {
        self.format(id, None)
    }

    /// The text of message `id` with its arguments (`{ $name }`).
    pub fn t_with(self, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, v.clone());
        }
        self.format(id, Some(&fa))
    }

    fn format(self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = self.bundle();
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            // A missing message shows its id: visible in review, never a blank.
            return id.to_string();
        };
        let mut errors = Vec::new();
        bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned()
    }
}

fn load(lang: &str, source: &'static str) -> FluentBundle<FluentResource> {
    let resource = FluentResource::try_new(source.to_string())
        .unwrap_or_else(|(_, e)| panic!("locales/{lang}.ftl does not parse: {e:?}"));
    let id = lang.parse().expect("a language tag");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Isolation marks would show up inside attribute values and test assertions; the console
    // sets `dir="auto"` on customer text instead.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .unwrap_or_else(|e| panic!("locales/{lang}.ftl repeats a message: {e:?}"));
    bundle
}

static ES: LazyLock<FluentBundle<FluentResource>> =
    LazyLock::new(|| load("es", include_str!("locales/es.ftl")));
static EN: LazyLock<FluentBundle<FluentResource>> =
    LazyLock::new(|| load("en", include_str!("locales/en.ftl")));

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(source: &str) -> Vec<String> {
        source
            .lines()
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_string()))
            .filter(|id| !id.is_empty() && !id.starts_with('#') && !id.starts_with(' '))
            .collect()
    }

    #[test]
    fn both_catalogues_have_the_same_messages() {
        let es = ids(include_str!("locales/es.ftl"));
        let en = ids(include_str!("locales/en.ftl"));
        assert_eq!(es, en, "es.ftl and en.ftl differ");
        for id in &es {
            assert_ne!(Lang::Es.t(id), *id, "{id} does not format");
        }
    }

    #[test]
    fn spanish_unless_english_is_preferred() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, v.parse().unwrap());
            Lang::negotiate(&h)
        };
        assert_eq!(Lang::negotiate(&HeaderMap::new()), Lang::Es);
        assert_eq!(with("es-MX,es;q=0.9,en;q=0.8"), Lang::Es);
        assert_eq!(with("en-US,en;q=0.9"), Lang::En);
        assert_eq!(with("fr-FR,en;q=0.5,es;q=0.7"), Lang::Es);
        assert_eq!(with("pt-BR"), Lang::Es);
    }
}
