//! Money in an ISO 4217 currency: amounts kept in minor units, typed and shown with the
//! currency's own decimals (none for yen, two for euros).

use crate::ParseError;
use std::str::FromStr;

/// A currency an artist prices in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

/// Currencies offered in the settings picker: those of the countries artists join from most,
/// first; any other active ISO 4217 code can still be typed through the API.
pub const COMMON: &[&str] = &[
    "EUR", "USD", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY",
    "MXN", "BRL",
];

impl Currency {
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);

    /// A current ISO 4217 code, e.g. `EUR` (funds, metals and superseded codes are refused).
    pub fn parse(code: &str) -> Result<Self, ParseError> {
        let bad = || {
            ParseError::new(
                "currency",
                "choose a currency by its ISO 4217 code, e.g. EUR",
            )
        };
        let c =
            iso_currency::Currency::from_code(&code.trim().to_ascii_uppercase()).ok_or_else(bad)?;
        if c.is_fund() || c.is_special() || c.is_superseded().is_some() || c.exponent().is_none() {
            return Err(bad());
        }
        Ok(Currency(c))
    }

    /// The currency of a country (ISO 3166 alpha-2); euros where the country is unknown.
    pub fn for_country(alpha2: &str) -> Self {
        iso_currency::Country::from_str(&alpha2.trim().to_ascii_uppercase())
            .ok()
            .and_then(|country| {
                iso_currency::Currency::from_country(country)
                    .into_iter()
                    .find(|c| !c.is_fund() && !c.is_special() && c.is_superseded().is_none())
            })
            .map_or(Self::EUR, Currency)
    }

    /// The artist's chosen currency, or their country's when they never chose one.
    pub fn of_artist(chosen: Option<&str>, country: &str) -> Self {
        chosen
            .and_then(|c| Self::parse(c).ok())
            .unwrap_or_else(|| Self::for_country(country))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// The name the settings picker shows.
    pub fn name(self) -> &'static str {
        iso_name(self.0)
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY.
    pub fn exponent(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(2))
    }

    /// How prices are prefixed. Dollars other than the US dollar are told apart (A$, C$).
    pub fn symbol(self) -> String {
        let symbol = self.0.symbol().symbol;
        match self.code() {
            "USD" | "EUR" | "GBP" | "JPY" => symbol,
            code if symbol == "$" || symbol == "kr" || symbol.is_empty() => match code {
                "AUD" => "A$".into(),
                "CAD" => "C$".into(),
                "NZD" => "NZ$".into(),
                "HKD" => "HK$".into(),
                "SGD" => "S$".into(),
                "MXN" => "MX$".into(),
                other => format!("{other} "),
            },
            _ => symbol,
        }
    }

    /// An amount in minor units as people read it: `€120`, `€120.50`, `$1,250`, `¥12,000`.
    /// Decimals show only when there are any.
    pub fn format(self, minor: i64) -> String {
        let scale = 10_i64.pow(self.exponent());
        let sign = if minor < 0 { "-" } else { "" };
        let minor = minor.unsigned_abs();
        let (whole, frac) = (minor / scale as u64, minor % scale as u64);
        let digits = whole.to_string();
        let mut grouped = String::new();
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(d);
        }
        let fraction = if frac == 0 {
            String::new()
        } else {
            format!(".{frac:0width$}", width = self.exponent() as usize)
        };
        format!("{sign}{}{grouped}{fraction}", self.symbol())
    }

    /// An amount as a form field holds it: `120`, `120.50`, no symbol or grouping.
    pub fn plain(self, minor: i64) -> String {
        let scale = 10_i64.pow(self.exponent());
        if minor % scale == 0 {
            (minor / scale).to_string()
        } else {
            format!(
                "{}.{:0width$}",
                minor / scale,
                (minor % scale).abs(),
                width = self.exponent() as usize
            )
        }
    }

    /// An amount typed by a person ("120", "120.50", "1,250") in minor units. More decimals than
    /// the currency has are refused rather than rounded.
    pub fn parse_amount(self, field: &'static str, raw: &str) -> Result<i64, ParseError> {
        let exponent = self.exponent() as usize;
        let example = if exponent == 0 {
            "150".to_owned()
        } else {
            format!("150.{}", "5".repeat(exponent))
        };
        let bad = || ParseError::new(field, format!("enter an amount like 150 or {example}"));
        let raw: String = raw.trim().chars().filter(|c| *c != ',').collect();
        let (whole, frac) = raw.split_once('.').unwrap_or((&raw, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 9 {
            return Err(bad());
        }
        if frac.len() > exponent || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let scale = 10_i64.pow(exponent as u32);
        let minor = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<exponent$}").parse().map_err(|_| bad())?
        };
        whole
            .parse::<i64>()
            .ok()
            .and_then(|w| w.checked_mul(scale))
            .and_then(|w| w.checked_add(minor))
            .ok_or_else(bad)
    }
}

fn iso_name(c: iso_currency::Currency) -> &'static str {
    // Names for the picker's currencies; others show their code.
    match c.code() {
        "EUR" => "Euro",
        "USD" => "US dollar",
        "GBP" => "Pound sterling",
        "CAD" => "Canadian dollar",
        "AUD" => "Australian dollar",
        "NZD" => "New Zealand dollar",
        "CHF" => "Swiss franc",
        "SEK" => "Swedish krona",
        "NOK" => "Norwegian krone",
        "DKK" => "Danish krone",
        "PLN" => "Polish złoty",
        "CZK" => "Czech koruna",
        "JPY" => "Japanese yen",
        "MXN" => "Mexican peso",
        "BRL" => "Brazilian real",
        other => other,
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn countries_get_their_own_currency() {
        for (country, code) in [
            ("DE", "EUR"),
            ("US", "USD"),
            ("GB", "GBP"),
            ("AU", "AUD"),
            ("CA", "CAD"),
            ("JP", "JPY"),
            ("CH", "CHF"),
        ] {
            assert_eq!(Currency::for_country(country).code(), code, "{country}");
        }
        assert_eq!(
            Currency::for_country("ZZ"),
            Currency::EUR,
            "unknown countries fall back"
        );
        assert_eq!(Currency::of_artist(None, "US").code(), "USD");
        assert_eq!(
            Currency::of_artist(Some("GBP"), "US").code(),
            "GBP",
            "a choice wins"
        );
        assert_eq!(Currency::of_artist(Some("nonsense"), "AU").code(), "AUD");
    }

    #[test]
    fn amounts_show_in_their_currency_with_its_decimals() {
        let c = |code| Currency::parse(code).unwrap();
        assert_eq!(c("EUR").format(12_000), "€120");
        assert_eq!(c("EUR").format(12_050), "€120.50");
        assert_eq!(c("USD").format(125_000), "$1,250");
        assert_eq!(c("GBP").format(8_000), "£80");
        assert_eq!(c("AUD").format(15_000), "A$150");
        assert_eq!(c("CAD").format(15_005), "C$150.05");
        assert_eq!(c("JPY").format(12_000), "¥12,000", "yen have no minor unit");
        assert_eq!(c("JPY").plain(12_000), "12000");
        assert_eq!(c("EUR").plain(12_050), "120.50");
        for code in COMMON {
            assert!(Currency::parse(code).is_ok(), "{code}");
        }
        assert!(
            Currency::parse("XAU").is_err(),
            "gold is no currency for prices"
        );
        assert!(Currency::parse("EURO").is_err());
    }

    #[test]
    fn typed_amounts_follow_the_currencys_decimals() {
        let eur = Currency::EUR;
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(eur.parse_amount("p", "120"), Ok(12_000));
        assert_eq!(eur.parse_amount("p", "120.5"), Ok(12_050));
        assert_eq!(eur.parse_amount("p", "1,250.00"), Ok(125_000));
        assert!(eur.parse_amount("p", "1.234").is_err());
        assert_eq!(jpy.parse_amount("p", "12000"), Ok(12_000));
        assert!(jpy.parse_amount("p", "120.5").is_err(), "no yen cents");
        for bad in ["", "-5", "abc", "1e3", ".5x", "1.2.3", "99999999999"] {
            assert!(eur.parse_amount("p", bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn formatting_and_parsing_agree(minor in 0i64..1_000_000_000, code in proptest::sample::select(COMMON)) {
            let c = Currency::parse(code).unwrap();
            prop_assert_eq!(c.parse_amount("p", &c.plain(minor)), Ok(minor));
        }

        #[test]
        fn no_typed_text_panics(raw in "\\PC{0,30}") {
            let _ = Currency::EUR.parse_amount("p", &raw);
            let _ = Currency::parse(&raw);
            let _ = Currency::for_country(&raw);
        }
    }
}
