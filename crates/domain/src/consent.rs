//! Marketing consent (meta-cloud-api.md §2.3, §4.6): a contact may stop marketing messages and
//! resume them, apart from the general opt-out of [`crate::window::check_opt_out`]. Meta reports
//! it with the `user_preferences` webhook and refuses a marketing send to such a user with
//! 131050; customers also write a stop or resume keyword. Utility and authentication templates
//! and replies are not marketing and still go.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::problem::code;
use crate::template_registry::TemplateCategory;
use crate::Problem;

/// The stable code of a refusal to send a marketing template to a contact who stopped them.
pub const CONTACT_OPTED_OUT_MARKETING: &str = "contact_opted_out_marketing";

/// Meta's code for a send refused because the user stopped marketing messages from the
/// business.
pub const MARKETING_STOPPED: i64 = 131050;

/// Stop keywords when a workspace sets none (Spanish, English and Portuguese).
pub const DEFAULT_STOP_KEYWORDS: [&str; 5] = ["STOP", "BAJA", "PARAR", "CANCELAR", "SAIR"];

/// Resume keywords when a workspace sets none.
pub const DEFAULT_RESUME_KEYWORDS: [&str; 5] = ["START", "ALTA", "VOLVER", "REANUDAR", "VOLTAR"];

/// Most keywords in one list.
pub const MAX_KEYWORDS: usize = 20;

/// Longest keyword, in characters: a keyword is a whole short message.
pub const MAX_KEYWORD_CHARS: usize = 40;

/// What changed a contact's marketing consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// Meta's `user_preferences` webhook.
    Webhook,
    /// The customer wrote a stop or resume keyword.
    Keyword,
    /// Meta refused a send with 131050.
    MetaError,
    /// The business, through `PATCH /v1/contacts/{id}`.
    Api,
}

impl ConsentSource {
    /// Every source.
    pub const ALL: [ConsentSource; 4] = [Self::Webhook, Self::Keyword, Self::MetaError, Self::Api];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Keyword => "keyword",
            Self::MetaError => "meta_error",
            Self::Api => "api",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workspace's stop and resume keywords; a list left out (`None`) is the default one, an
/// empty list turns that direction off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketingKeywords {
    /// Messages that stop marketing (default `STOP`, `BAJA`, `PARAR`, `CANCELAR`, `SAIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Messages that resume it (default `START`, `ALTA`, `VOLVER`, `REANUDAR`, `VOLTAR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Vec<String>>,
}

/// Whether a message stops or resumes marketing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordVerdict {
    /// A stop keyword.
    Stop,
    /// A resume keyword.
    Resume,
}

impl KeywordVerdict {
    /// The opt-out state the keyword asks for.
    pub fn opted_out(self) -> bool {
        self == Self::Stop
    }
}

/// Which keyword a customer's whole message is under a workspace's setting (`None`: the
/// defaults): compared trimmed, without surrounding punctuation, case and accents.
pub fn keyword_verdict(setting: Option<&MarketingKeywords>, text: &str) -> Option<KeywordVerdict> {
    let folded = fold(text);
    if folded.is_empty() || folded.chars().count() > MAX_KEYWORD_CHARS {
        return None;
    }
    let matches = |list: Option<&Vec<String>>, defaults: &[&str]| match list {
        Some(list) => list.iter().any(|k| fold(k) == folded),
        None => defaults.iter().any(|k| fold(k) == folded),
    };
    if matches(
        setting.and_then(|s| s.stop.as_ref()),
        &DEFAULT_STOP_KEYWORDS,
    ) {
        Some(KeywordVerdict::Stop)
    } else if matches(
        setting.and_then(|s| s.resume.as_ref()),
        &DEFAULT_RESUME_KEYWORDS,
    ) {
        Some(KeywordVerdict::Resume)
    } else {
        None
    }
}

/// A message as keywords are compared: trimmed of blanks and punctuation (`¡Baja!`, `stop.`),
/// lower case, accents removed (`Cancelár` is `cancelar`).
pub fn fold(text: &str) -> String {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || is_edge_punctuation(c));
    trimmed
        .chars()
        .filter(|c| !('\u{0300}'..='\u{036f}').contains(c))
        .flat_map(char::to_lowercase)
        .map(unaccent)
        .collect()
}

fn is_edge_punctuation(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ';' | ':' | '!' | '?' | '¡' | '¿' | '"' | '\'' | '«' | '»' | '(' | ')'
    )
}

/// The letter without its accent, for the Latin letters of Spanish and Portuguese.
fn unaccent(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

impl MarketingKeywords {
    /// Every problem of a setting, under `field` (e.g. `marketing_keywords`): each list at most
    /// [`MAX_KEYWORDS`] keywords of 1 to [`MAX_KEYWORD_CHARS`] characters, and no keyword both
    /// stops and resumes.
    pub fn problems(&self, field: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (name, list) in [("stop", &self.stop), ("resume", &self.resume)] {
            let Some(list) = list else { continue };
            if list.len() > MAX_KEYWORDS {
                problems.push(Problem::new(
                    format!("{field}.{name}"),
                    code::TOO_MANY,
                    format!("at most {MAX_KEYWORDS} keywords"),
                ));
            }
            for (i, k) in list.iter().enumerate() {
                let n = fold(k).chars().count();
                if n == 0 || n > MAX_KEYWORD_CHARS {
                    problems.push(Problem::new(
                        format!("{field}.{name}[{i}]"),
                        code::INVALID_VALUE,
                        format!(
                            "a keyword must have 1 to {MAX_KEYWORD_CHARS} characters besides \
                             blanks and punctuation"
                        ),
                    ));
                }
            }
        }
        let stops: Vec<String> = self.stop_list().iter().map(|k| fold(k)).collect();
        for (i, k) in self.resume.iter().flatten().enumerate() {
            if stops.contains(&fold(k)) {
                problems.push(Problem::new(
                    format!("{field}.resume[{i}]"),
                    code::DUPLICATE,
                    format!("{k:?} is also a stop keyword"),
                ));
            }
        }
        problems
    }

    /// The stop keywords in effect.
    pub fn stop_list(&self) -> Vec<String> {
        self.stop.clone().unwrap_or_else(|| {
            DEFAULT_STOP_KEYWORDS
                .iter()
                .map(|k| k.to_string())
                .collect()
        })
    }
}

/// Refuses a marketing template to a contact who stopped marketing messages.
pub fn check_marketing(marketing_opted_out: bool, category: &TemplateCategory) -> Option<Problem> {
    (marketing_opted_out && *category == TemplateCategory::Marketing).then(|| {
        Problem::new(
            "to",
            CONTACT_OPTED_OUT_MARKETING,
            "the contact stopped marketing messages: a MARKETING template is not sent to them \
             (utility and authentication templates, and replies, still go)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keywords_match_whole_messages_in_any_case_and_accent() {
        for text in [
            "STOP",
            "stop",
            " Baja ",
            "¡BAJA!",
            "parar.",
            "Cancelár",
            "sair",
        ] {
            assert_eq!(
                keyword_verdict(None, text),
                Some(KeywordVerdict::Stop),
                "{text}"
            );
        }
        for text in ["start", "Alta", "VOLVER", "reanudar", "Voltar!"] {
            assert_eq!(
                keyword_verdict(None, text),
                Some(KeywordVerdict::Resume),
                "{text}"
            );
        }
        for text in ["", "  ", "stop please", "no quiero baja", "bajar", "!!!"] {
            assert_eq!(keyword_verdict(None, text), None, "{text:?}");
        }
    }

    #[test]
    fn a_workspace_list_replaces_the_default_one_and_an_empty_list_turns_it_off() {
        let custom = MarketingKeywords {
            stop: Some(vec!["No más".into()]),
            resume: Some(vec![]),
        };
        assert_eq!(
            keyword_verdict(Some(&custom), "NO MAS"),
            Some(KeywordVerdict::Stop)
        );
        assert_eq!(keyword_verdict(Some(&custom), "stop"), None);
        assert_eq!(keyword_verdict(Some(&custom), "start"), None);
        // Only the stop list set: resume keeps its defaults.
        let stop_only = MarketingKeywords {
            stop: Some(vec!["basta".into()]),
            resume: None,
        };
        assert_eq!(
            keyword_verdict(Some(&stop_only), "alta"),
            Some(KeywordVerdict::Resume)
        );
    }

    #[test]
    fn folding_removes_accents_even_when_decomposed() {
        assert_eq!(fold("Cance\u{0301}lar"), "cancelar");
        assert_eq!(fold("  «Ñandú»  "), "nandu");
        assert_eq!(fold("AÇÃO"), "acao");
    }

    #[test]
    fn settings_are_checked_whole() {
        let bad = MarketingKeywords {
            stop: Some(vec!["ok".into(), "!!".into(), "x".repeat(41)]),
            resume: Some(vec!["OK".into()]),
        };
        let fields: Vec<(String, &str)> = bad
            .problems("marketing_keywords")
            .into_iter()
            .map(|p| (p.field, p.code))
            .collect();
        assert_eq!(
            fields,
            [
                ("marketing_keywords.stop[1]".into(), code::INVALID_VALUE),
                ("marketing_keywords.stop[2]".into(), code::INVALID_VALUE),
                ("marketing_keywords.resume[0]".into(), code::DUPLICATE),
            ]
        );
        let many = MarketingKeywords {
            stop: Some((0..21).map(|i| format!("k{i}")).collect()),
            resume: None,
        };
        assert_eq!(many.problems("m")[0].code, code::TOO_MANY);
        // A default stop keyword cannot resume either.
        let clash = MarketingKeywords {
            stop: None,
            resume: Some(vec!["Baja".into()]),
        };
        assert_eq!(clash.problems("m")[0].code, code::DUPLICATE);
        assert!(MarketingKeywords::default().problems("m").is_empty());
    }

    #[test]
    fn only_marketing_templates_are_refused_and_only_when_opted_out() {
        let refused = check_marketing(true, &TemplateCategory::Marketing).expect("refused");
        assert_eq!(refused.code, CONTACT_OPTED_OUT_MARKETING);
        assert!(check_marketing(true, &TemplateCategory::Utility).is_none());
        assert!(check_marketing(true, &TemplateCategory::Authentication).is_none());
        assert!(check_marketing(false, &TemplateCategory::Marketing).is_none());
    }

    #[test]
    fn sources_round_trip() {
        for s in ConsentSource::ALL {
            assert_eq!(ConsentSource::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(ConsentSource::parse("other"), None);
    }
}
