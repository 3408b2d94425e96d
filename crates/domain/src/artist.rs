//! Artists and their work: the style taxonomy and URL slugs.

use crate::ParseError;
use serde::{Deserialize, Serialize};

macro_rules! styles {
    ($($variant:ident => $slug:literal, $label:literal;)+) => {
        /// The fixed style taxonomy that profiles, portfolio items and search share.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "kebab-case")]
        pub enum Style { $($variant),+ }

        impl Style {
            pub const ALL: &'static [Style] = &[$(Style::$variant),+];

            pub fn slug(self) -> &'static str {
                match self { $(Style::$variant => $slug),+ }
            }

            pub fn label(self) -> &'static str {
                match self { $(Style::$variant => $label),+ }
            }
        }
    };
}

styles! {
    Blackwork => "blackwork", "Blackwork";
    FineLine => "fine-line", "Fine line";
    Japanese => "japanese", "Japanese (Irezumi)";
    NeoTraditional => "neo-traditional", "Neo-traditional";
    Traditional => "traditional", "American traditional";
    Realism => "realism", "Realism";
    Watercolour => "watercolour", "Watercolour";
    Lettering => "lettering", "Lettering & script";
    Geometric => "geometric", "Geometric";
    Dotwork => "dotwork", "Dotwork";
    Tribal => "tribal", "Tribal";
    Illustrative => "illustrative", "Illustrative";
    Minimalist => "minimalist", "Minimalist";
    Surrealism => "surrealism", "Surrealism";
    Chicano => "chicano", "Chicano";
    Ornamental => "ornamental", "Ornamental";
    NewSchool => "new-school", "New school";
    Handpoke => "handpoke", "Handpoke";
}

impl Style {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let wanted = raw.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.slug() == wanted)
            .ok_or_else(|| ParseError::new("style", format!("unknown style {wanted:?}")))
    }
}

/// A URL-safe identifier: lower-case ASCII letters, digits and single hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub const MAX_LEN: usize = 80;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                "slug",
                "must be lower-case letters, digits and single hyphens",
            ))
        }
    }

    /// Derives a slug from a display name, dropping anything that is not ASCII alphanumeric.
    pub fn from_name(name: &str) -> Result<Self, ParseError> {
        let mut out = String::new();
        for c in name
            .chars()
            .flat_map(char::to_lowercase)
            .flat_map(fold_accent)
        {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        let trimmed: String = out
            .trim_end_matches('-')
            .chars()
            .take(Self::MAX_LEN)
            .collect();
        Self::parse(trimmed.trim_end_matches('-'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Folds common Latin accents so "Chloé Álvarez" becomes "chloe-alvarez", not "chlo-lvarez".
fn fold_accent(c: char) -> impl Iterator<Item = char> {
    let folded: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ű' => "u",
        'ñ' | 'ń' => "n",
        'ç' | 'ć' | 'č' => "c",
        'ś' | 'š' => "s",
        'ž' | 'ź' | 'ż' => "z",
        'ł' => "l",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        _ => "",
    };
    let keep = folded.is_empty().then_some(c);
    folded.chars().chain(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_taxonomy_has_at_least_fifteen_distinct_styles() {
        assert!(Style::ALL.len() >= 15);
        let mut slugs: Vec<_> = Style::ALL.iter().map(|s| s.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), Style::ALL.len());
    }

    #[test]
    fn names_become_readable_slugs() {
        assert_eq!(
            Slug::from_name("Mara Okafor-Lindqvist").unwrap().as_str(),
            "mara-okafor-lindqvist"
        );
        assert_eq!(
            Slug::from_name("Chloé Álvarez").unwrap().as_str(),
            "chloe-alvarez"
        );
        assert!(Slug::from_name("!!!").is_err());
    }

    proptest! {
        #[test]
        fn every_style_round_trips_through_its_slug(i in 0usize..18) {
            let style = Style::ALL[i % Style::ALL.len()];
            prop_assert_eq!(Style::parse(style.slug()).unwrap(), style);
        }

        #[test]
        fn derived_slugs_always_parse(name in "\\PC{0,120}") {
            if let Ok(slug) = Slug::from_name(&name) {
                prop_assert_eq!(Slug::parse(slug.as_str()).unwrap(), slug);
            }
        }
    }
}

/// Fitzpatrick skin types, so clients can find work healed on skin like theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SkinTone {
    I,
    II,
    III,
    IV,
    V,
    VI,
}

impl SkinTone {
    pub const ALL: [SkinTone; 6] = [
        SkinTone::I,
        SkinTone::II,
        SkinTone::III,
        SkinTone::IV,
        SkinTone::V,
        SkinTone::VI,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkinTone::I => "I",
            SkinTone::II => "II",
            SkinTone::III => "III",
            SkinTone::IV => "IV",
            SkinTone::V => "V",
            SkinTone::VI => "VI",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| ParseError::new("skin_tones", "use Fitzpatrick types I to VI"))
    }
}

/// A portfolio piece's description, as the upload form sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioDraft {
    pub title: String,
    pub style: Style,
    pub placement: String,
    pub healed: bool,
    pub skin_tones: Vec<SkinTone>,
}

impl PortfolioDraft {
    pub fn parse(
        title: &str,
        style: &str,
        placement: &str,
        healed: bool,
        skin_tones: &[&str],
    ) -> Result<Self, Vec<ParseError>> {
        let title = crate::request::clean_text("title", title, 2, 120);
        let style = Style::parse(style);
        let placement = crate::request::parse_placement(placement);
        let tones: Result<Vec<_>, _> = skin_tones
            .iter()
            .filter(|t| !t.trim().is_empty())
            .map(|t| SkinTone::parse(t))
            .collect();
        match (title, style, placement, tones) {
            (Ok(title), Ok(style), Ok(placement), Ok(mut skin_tones)) => {
                skin_tones.sort_by_key(|t| *t as u8);
                skin_tones.dedup();
                Ok(Self {
                    title,
                    style,
                    placement,
                    healed,
                    skin_tones,
                })
            }
            (a, b, c, d) => Err([a.err(), b.err(), c.err(), d.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

#[cfg(test)]
mod portfolio_tests {
    use super::*;

    #[test]
    fn drafts_parse_tones_in_order_and_report_every_problem() {
        let d = PortfolioDraft::parse("Koi", "japanese", "back", true, &["iv", "II", "IV", ""])
            .unwrap();
        assert_eq!(d.skin_tones, [SkinTone::II, SkinTone::IV]);
        let e = PortfolioDraft::parse("", "cubism", "nose", false, &["VII"]).unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["title", "style", "placement", "skin_tones"]);
    }
}
