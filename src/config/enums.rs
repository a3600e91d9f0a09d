//! The closed sets of words the configuration accepts: read source, incident status and
//! severity, classification and its reason, SIGNL4 alerting scenario, Azure cloud.
//!
//! Invariants: parsing is case-insensitive (and ignores `_`/`-`/spaces for multi-word values,
//! so `true_positive`, `TruePositive` and `truepositive` are the same word); `as_str` returns
//! the canonical casing the remote API uses, which is what the pipeline sends.

use std::fmt;

/// Declares an enum whose variants are known words, with `parse`, `as_str`, `ALL` and Display.
macro_rules! words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            /// Every value, in canonical order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses any casing of a known word; `None` if unknown.
            pub fn parse(text: &str) -> Option<Self> {
                let wanted = fold(text);
                Self::ALL.iter().copied().find(|v| fold(v.as_str()) == wanted)
            }

            /// "A, B or C", for error messages.
            pub fn expected() -> String {
                one_of(Self::ALL.iter().map(|v| v.as_str()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Lower case without separators: how two spellings of a word are compared.
fn fold(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// `a, b or c` (quoted), for "expected one of" messages.
pub(crate) fn one_of<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let words: Vec<String> = words.map(|w| format!("\"{w}\"")).collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

words! {
    /// Which API the connector reads incidents from.
    pub enum ReadSource {
        /// Microsoft Sentinel incidents on ARM (`Microsoft.SecurityInsights`).
        Sentinel = "sentinel",
        /// Microsoft Graph security alerts (alerts_v2), each paged as an incident.
        Graph = "graph",
        /// Microsoft Defender XDR incidents (Graph `security/incidents`).
        Defender = "defender",
    }
}

words! {
    /// A Sentinel incident status (the `statuses` filter).
    pub enum IncidentStatus {
        New = "New",
        Active = "Active",
        Closed = "Closed",
    }
}

words! {
    /// A Sentinel incident severity (the `severities` filter).
    pub enum Severity {
        High = "High",
        Medium = "Medium",
        Low = "Low",
        Informational = "Informational",
    }
}

words! {
    /// How an incident closed from SIGNL4 is classified in Sentinel.
    pub enum Classification {
        Undetermined = "Undetermined",
        TruePositive = "TruePositive",
        BenignPositive = "BenignPositive",
        FalsePositive = "FalsePositive",
    }
}

words! {
    /// Why, for classifications that need a reason.
    pub enum ClassificationReason {
        SuspiciousActivity = "SuspiciousActivity",
        SuspiciousButExpected = "SuspiciousButExpected",
        IncorrectAlertLogic = "IncorrectAlertLogic",
        InaccurateData = "InaccurateData",
    }
}

impl Classification {
    /// The reasons Sentinel accepts with this classification (docs/reference/azure-apis.md §2.6); empty for
    /// `Undetermined`, which takes none. Sentinel rejects a close that breaks this pairing, so
    /// the loader checks it up front.
    pub fn allowed_reasons(self) -> &'static [ClassificationReason] {
        use ClassificationReason::*;
        match self {
            Classification::Undetermined => &[],
            Classification::TruePositive => &[SuspiciousActivity],
            Classification::BenignPositive => &[SuspiciousButExpected],
            Classification::FalsePositive => &[IncorrectAlertLogic, InaccurateData],
        }
    }
}

words! {
    /// `X-S4-AlertingScenario`; absent (empty in the file) means the team's default.
    pub enum AlertingScenario {
        SingleAck = "single_ack",
        MultiAck = "multi_ack",
        Emergency = "emergency",
    }
}

words! {
    /// The Azure cloud, which sets the default endpoints and token scopes.
    pub enum Cloud {
        /// Azure public cloud.
        Public = "public",
        /// Azure Government (US).
        UsGov = "usgov",
        /// Azure operated by 21Vianet (China).
        China = "china",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_case_and_separator_insensitive() {
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(
            Classification::parse("true_positive"),
            Some(Classification::TruePositive)
        );
        assert_eq!(
            AlertingScenario::parse("Multi-Ack"),
            Some(AlertingScenario::MultiAck)
        );
        assert_eq!(Cloud::parse("USGov"), Some(Cloud::UsGov));
        assert_eq!(IncidentStatus::parse("open"), None);
    }

    #[test]
    fn expected_lists_every_word() {
        assert_eq!(
            ReadSource::expected(),
            "\"sentinel\", \"graph\" or \"defender\""
        );
        assert_eq!(
            IncidentStatus::expected(),
            "\"New\", \"Active\" or \"Closed\""
        );
    }

    #[test]
    fn only_undetermined_needs_no_reason() {
        for c in Classification::ALL {
            assert_eq!(
                c.allowed_reasons().is_empty(),
                *c == Classification::Undetermined
            );
        }
    }
}
