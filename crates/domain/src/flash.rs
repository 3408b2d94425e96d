//! Flash designs (ready-made designs sold in sizes) and guest spots (an artist working at another
//! studio for a few dates).

use crate::ParseError;
use crate::request::Size;
use time::Date;

/// One size of a flash design, with its own price and session length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FlashVariant {
    pub size: Size,
    pub price_cents: i64,
    pub minutes: i64,
}

impl FlashVariant {
    /// Parses one size's price (in the artist's `currency`) and minutes; both empty means the
    /// size is not offered.
    pub fn parse(
        size: Size,
        price: &str,
        minutes: &str,
        currency: crate::Currency,
    ) -> Result<Option<Self>, ParseError> {
        let (price, minutes) = (price.trim(), minutes.trim());
        if price.is_empty() && minutes.is_empty() {
            return Ok(None);
        }
        let price_cents = currency.parse_amount("price", price)?;
        if price_cents <= 0 {
            return Err(ParseError::new(
                "price",
                format!("size {} needs a price", size.as_str()),
            ));
        }
        let minutes: i64 = minutes
            .parse()
            .ok()
            .filter(|m| (15..=600).contains(m))
            .ok_or_else(|| {
                ParseError::new(
                    "minutes",
                    format!("size {}: 15 to 600 minutes", size.as_str()),
                )
            })?;
        Ok(Some(Self {
            size,
            price_cents,
            minutes,
        }))
    }
}

/// Checks that a design offers at least one size and that bigger sizes do not cost less.
pub fn check_variants(variants: &[FlashVariant]) -> Result<(), ParseError> {
    if variants.is_empty() {
        return Err(ParseError::new("price", "offer at least one size"));
    }
    if variants
        .windows(2)
        .any(|w| w[1].price_cents < w[0].price_cents)
    {
        return Err(ParseError::new(
            "price",
            "a bigger size cannot cost less than a smaller one",
        ));
    }
    Ok(())
}

/// A guest spot as entered: dates at the host studio, in its time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSpot {
    pub starts_on: Date,
    pub ends_on: Date,
    pub time_zone: String,
}

impl GuestSpot {
    pub fn parse(
        starts_on: &str,
        ends_on: &str,
        time_zone: &str,
        today: Date,
    ) -> Result<Self, ParseError> {
        let starts_on = crate::request::parse_date("starts_on", starts_on)?;
        let ends_on = crate::request::parse_date("ends_on", ends_on)?;
        if ends_on < starts_on {
            return Err(ParseError::new(
                "ends_on",
                "the last day comes after the first",
            ));
        }
        if ends_on < today {
            return Err(ParseError::new("ends_on", "the guest spot is already over"));
        }
        if (ends_on - starts_on).whole_days() > 92 {
            return Err(ParseError::new(
                "ends_on",
                "a guest spot lasts at most three months",
            ));
        }
        let tz = time_zone.trim();
        let valid_tz = tz == "UTC"
            || (tz.len() <= 40
                && tz.split('/').count() >= 2
                && tz.split('/').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
                        && part.starts_with(|c: char| c.is_ascii_uppercase())
                }));
        if !valid_tz {
            return Err(ParseError::new(
                "time_zone",
                "use a time zone name such as Europe/Berlin or America/New_York",
            ));
        }
        Ok(Self {
            starts_on,
            ends_on,
            time_zone: tz.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn variants_parse_and_sizes_left_empty_are_not_offered() {
        assert_eq!(
            FlashVariant::parse(Size::S, "", "", crate::Currency::EUR).unwrap(),
            None
        );
        let m = FlashVariant::parse(Size::M, "180", "90", crate::Currency::EUR)
            .unwrap()
            .unwrap();
        assert_eq!((m.price_cents, m.minutes), (18_000, 90));
        assert!(FlashVariant::parse(Size::L, "180", "", crate::Currency::EUR).is_err());
        assert!(FlashVariant::parse(Size::L, "0", "60", crate::Currency::EUR).is_err());
        let s = FlashVariant::parse(Size::S, "200", "60", crate::Currency::EUR)
            .unwrap()
            .unwrap();
        assert!(check_variants(&[s, m]).is_err(), "M cheaper than S");
        assert!(check_variants(&[]).is_err());
        assert!(check_variants(&[m]).is_ok());
    }

    #[test]
    fn guest_spots_need_ordered_future_dates_and_a_zone_name() {
        let today = date!(2026 - 11 - 26);
        let g = GuestSpot::parse("2026-12-01", "2026-12-05", "Europe/Berlin", today).unwrap();
        assert_eq!(g.time_zone, "Europe/Berlin");
        assert!(GuestSpot::parse("2026-12-05", "2026-12-01", "UTC", today).is_err());
        assert!(GuestSpot::parse("2026-11-01", "2026-11-02", "UTC", today).is_err());
        assert!(GuestSpot::parse("2026-12-01", "2027-06-01", "UTC", today).is_err());
        assert!(GuestSpot::parse("2026-12-01", "2026-12-02", "berlin", today).is_err());
        assert!(
            GuestSpot::parse(
                "2026-12-01",
                "2026-12-02",
                "America/Argentina/Buenos_Aires",
                today
            )
            .is_ok()
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(a in ".{0,12}", b in ".{0,12}", tz in ".{0,30}", p in ".{0,8}", m in ".{0,5}") {
            let _ = GuestSpot::parse(&a, &b, &tz, date!(2026 - 11 - 26));
            let _ = FlashVariant::parse(Size::M, &p, &m, crate::Currency::EUR);
        }
    }
}
