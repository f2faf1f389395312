//! What Meta says a delivered message costs: the `pricing` object of a status webhook, typed so
//! usage can be counted by category, type and model.
//!
//! Meta adds categories over time (`general_purpose_ai` arrived in 2026), so a value Chasqui does
//! not know yet is kept as Meta wrote it rather than dropped: a report must never lose a billed
//! message. Only well-formed tokens (`[a-z0-9_]`, at most 64 characters) are kept.

use serde::{Serialize, Serializer};
use serde_json::Value;

/// Longest unknown token kept.
const MAX_TOKEN: usize = 64;

/// Defines a pricing vocabulary: known values plus `Other` for what Meta adds later.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value Meta sent that Chasqui does not know yet, as sent.
            Other(String),
        }

        impl $name {
            /// Meta's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }

            /// Reads Meta's spelling (any case); `None` for what is not a token.
            pub fn parse(text: &str) -> Option<Self> {
                let lower = text.to_ascii_lowercase();
                match lower.as_str() {
                    $(t if t.eq_ignore_ascii_case($text) => Some(Self::$variant),)+
                    t if is_token(t) => Some(Self::Other(t.to_string())),
                    _ => None,
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// `pricing.pricing_model`.
    PricingModel {
        /// Per-message pricing, Meta's model since 2025-07-01.
        Pmp = "PMP",
        /// Conversation-based pricing, the legacy model.
        Cbp = "CBP",
    }
}

vocabulary! {
    /// `pricing.category`: what the message is charged as.
    PricingCategory {
        /// Marketing templates.
        Marketing = "marketing",
        /// Marketing through the Marketing Messages API.
        MarketingLite = "marketing_lite",
        /// Utility templates.
        Utility = "utility",
        /// Authentication templates.
        Authentication = "authentication",
        /// Authentication templates at the international rate.
        AuthenticationInternational = "authentication_international",
        /// Service (free-form replies inside the window).
        Service = "service",
        /// Messages in a conversation opened by a click-to-WhatsApp ad.
        ReferralConversion = "referral_conversion",
    }
}

vocabulary! {
    /// `pricing.type` (webhook v24 and later): whether the message is charged.
    PricingType {
        /// Charged.
        Regular = "regular",
        /// Free: inside the customer service window.
        FreeCustomerService = "free_customer_service",
        /// Free: inside a free entry point window (ads, page buttons).
        FreeEntryPoint = "free_entry_point",
    }
}

/// A status webhook's `pricing` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pricing {
    /// `pricing_model`.
    #[serde(rename = "pricing_model")]
    pub model: PricingModel,
    /// `category`.
    pub category: PricingCategory,
    /// `type`; absent from older webhook versions.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<PricingType>,
    /// `billable`; Meta deprecates it in favour of `type`, so it may be absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
}

impl Pricing {
    /// Reads Meta's object; `None` when it lacks a model or category Chasqui can keep.
    pub fn from_webhook(value: &Value) -> Option<Self> {
        let text = |k: &str| value.get(k).and_then(Value::as_str);
        Some(Self {
            model: PricingModel::parse(text("pricing_model")?)?,
            category: PricingCategory::parse(text("category")?)?,
            kind: text("type").and_then(PricingType::parse),
            billable: value.get("billable").and_then(Value::as_bool),
        })
    }

    /// Whether Meta charges for the message: `type` when sent, else `billable`.
    pub fn charged(&self) -> Option<bool> {
        match &self.kind {
            Some(PricingType::Regular) => Some(true),
            Some(PricingType::FreeCustomerService | PricingType::FreeEntryPoint) => Some(false),
            Some(PricingType::Other(_)) | None => self.billable,
        }
    }
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TOKEN
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_meta_pmp_pricing() {
        let p = Pricing::from_webhook(&json!({"billable": true, "pricing_model": "PMP",
            "type": "regular", "category": "marketing"}))
        .expect("pricing");
        assert_eq!(p.model, PricingModel::Pmp);
        assert_eq!(p.category, PricingCategory::Marketing);
        assert_eq!(p.kind, Some(PricingType::Regular));
        assert_eq!(p.charged(), Some(true));
        assert_eq!(
            serde_json::to_value(&p).expect("json"),
            json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"})
        );
    }

    #[test]
    fn legacy_cbp_pricing_has_no_type() {
        let p = Pricing::from_webhook(
            &json!({"billable": false, "pricing_model": "CBP", "category": "service"}),
        )
        .expect("pricing");
        assert_eq!((&p.model, &p.kind), (&PricingModel::Cbp, &None));
        assert_eq!(p.charged(), Some(false));
    }

    #[test]
    fn a_free_type_is_not_charged_whatever_billable_says() {
        let p = Pricing::from_webhook(&json!({"billable": true, "pricing_model": "PMP",
            "type": "free_customer_service", "category": "service"}))
        .expect("pricing");
        assert_eq!(p.charged(), Some(false));
    }

    #[test]
    fn a_category_meta_adds_later_is_kept() {
        let p = Pricing::from_webhook(
            &json!({"pricing_model": "PMP", "category": "general_purpose_ai", "type": "regular"}),
        )
        .expect("pricing");
        assert_eq!(p.category.as_str(), "general_purpose_ai");
        assert_eq!(p.billable, None);
    }

    #[test]
    fn what_is_not_a_token_is_not_kept() {
        assert_eq!(
            Pricing::from_webhook(&json!({"pricing_model": "PMP", "category": "<b>x</b>"})),
            None
        );
        assert_eq!(
            Pricing::from_webhook(&json!({"category": "marketing"})),
            None
        );
        assert_eq!(
            PricingCategory::parse("MARKETING"),
            Some(PricingCategory::Marketing)
        );
    }
}
