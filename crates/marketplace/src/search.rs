//! Search parameters as pages and the API receive them, parsed into the store's query.

use crate::error::{AppError, FieldError};
use domain::request::parse_money;
use serde::{Deserialize, Serialize};
use storage::{ArtistQuery, SearchSort};

pub const PER_PAGE: u32 = 24;

/// The query string of `/search` and `GET /api/v1/artists`. Every field is optional text, so a
/// hand-edited URL is answered with an explanation rather than a rejection from the extractor.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Free text: name, city, studio or bio.
    #[serde(default)]
    pub q: String,
    /// A style slug, as `GET /api/v1/styles` lists them.
    #[serde(default)]
    pub style: String,
    /// A city; artists with a guest spot there from today on match too.
    #[serde(default)]
    pub city: String,
    /// The smallest piece costs at most this, in euros.
    #[serde(default)]
    pub max_price: String,
    /// 1 to 5 stars.
    #[serde(default)]
    pub min_rating: String,
    /// `on`: only artists whose books are open.
    #[serde(default)]
    pub open: String,
    /// `on`: only artists with healed work in their portfolio.
    #[serde(default)]
    pub healed: String,
    /// `featured` (the default), `rating`, `price` or `newest`.
    #[serde(default)]
    pub sort: String,
    /// 1 to 10000.
    #[serde(default)]
    pub page: String,
}

fn field(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn flag(raw: &str) -> bool {
    matches!(raw.trim(), "on" | "true" | "1" | "yes")
}

impl SearchParams {
    pub fn parse(&self) -> Result<ArtistQuery, AppError> {
        let mut errors = Vec::new();
        let style = match self.style.trim() {
            "" => None,
            s => domain::Style::parse(s)
                .map_err(|e| errors.push(e.into()))
                .ok(),
        };
        let max_price_cents = match self.max_price.trim() {
            "" => None,
            p => parse_money("max_price", p)
                .map_err(|e| errors.push(e.into()))
                .ok(),
        };
        let min_rating_centi = match self.min_rating.trim() {
            "" => None,
            r => match r.parse::<f64>() {
                Ok(v) if (1.0..=5.0).contains(&v) => Some((v * 100.0).round() as i64),
                _ => {
                    errors.push(field("min_rating", "a rating from 1 to 5"));
                    None
                }
            },
        };
        let sort = match self.sort.trim() {
            "" | "featured" => SearchSort::Featured,
            "rating" => SearchSort::Rating,
            "price" => SearchSort::PriceLow,
            "newest" => SearchSort::Newest,
            _ => {
                errors.push(field("sort", "sort by featured, rating, price or newest"));
                SearchSort::Featured
            }
        };
        let page = match self.page.trim() {
            "" => 1,
            p => match p.parse::<u32>() {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => {
                    errors.push(field("page", "a page number from 1 to 10000"));
                    1
                }
            },
        };
        let text: String = self
            .q
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let city: String = self
            .city
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(80)
            .collect();
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(ArtistQuery {
            style,
            city: (!city.is_empty()).then_some(city),
            max_price_cents,
            min_rating_centi,
            books_open: flag(&self.open),
            healed_only: flag(&self.healed),
            text: (!text.is_empty()).then_some(text),
            studio_id: None,
            today: Some(time::OffsetDateTime::now_utc().date().to_string()),
            sort,
            page,
            per_page: PER_PAGE,
        })
    }

    /// This search's query string with `page` replaced, for pagination links.
    pub fn with_page(&self, page: u32) -> String {
        let mut p = self.clone();
        p.page = page.to_string();
        serde_urlencoded::to_string(&p).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filters_parse_and_bad_ones_are_named() {
        let p = SearchParams {
            style: "fine-line".into(),
            max_price: "150".into(),
            min_rating: "4.5".into(),
            open: "on".into(),
            sort: "rating".into(),
            page: "2".into(),
            ..Default::default()
        };
        let q = p.parse().unwrap();
        assert_eq!(
            (q.max_price_cents, q.min_rating_centi, q.page),
            (Some(15_000), Some(450), 2)
        );
        assert!(q.books_open && !q.healed_only);
        let bad = SearchParams {
            style: "cubism".into(),
            page: "0".into(),
            sort: "random".into(),
            ..Default::default()
        };
        match bad.parse() {
            Err(AppError::Validation(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["style", "sort", "page"]);
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn any_query_string_parses_or_explains(q in ".{0,20}", style in ".{0,12}", price in ".{0,8}",
                                               rating in ".{0,5}", page in ".{0,6}") {
            let p = SearchParams { q, style, max_price: price, min_rating: rating, page, ..Default::default() };
            match p.parse() {
                Ok(query) => prop_assert!(query.page >= 1),
                Err(AppError::Validation(errors)) => prop_assert!(!errors.is_empty()),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }
}
