//! Artist search: the filter, order and statements each dialect runs (PostgreSQL's are shown by
//! `cargo run --example search_sql`).

/// A value bound to a search statement, in order.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// The filter clause shared by a search page and its count, with its binds.
pub(crate) fn search_filter(q: &crate::ArtistQuery) -> (String, Vec<Bind>) {
    // An erased artist's row stays for its requests' records, never to be found.
    let mut clauses = vec!["a.delisted_at IS NULL".to_owned()];
    let mut binds = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if let Some(style) = q.style {
        let n = next(Bind::Text(style.slug().to_owned()), &mut binds);
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM artist_styles st WHERE st.artist_id = a.id AND st.style = {n})"
        ));
    }
    if let Some(city) = &q.city {
        let n = next(Bind::Text(city.to_lowercase()), &mut binds);
        match &q.today {
            Some(today) => {
                let d = next(Bind::Text(today.clone()), &mut binds);
                // A union, not an OR, so each side can use its index (the city index on
                // artists, the studio index on guest spots).
                clauses.push(format!(
                    "a.id IN (SELECT c.id FROM artists c WHERE lower(c.city) = {n} \
                     UNION SELECT g.artist_id FROM guest_spots g JOIN studios gs ON gs.id = g.studio_id \
                     WHERE lower(gs.city) = {n} AND g.ends_on >= {d})"
                ));
            }
            None => clauses.push(format!("lower(a.city) = {n}")),
        }
    }
    if let Some(studio) = q.studio_id {
        let n = next(Bind::Int(studio), &mut binds);
        clauses.push(format!("a.studio_id = {n}"));
    }
    if let Some(max) = q.max_price_cents {
        let n = next(Bind::Int(max), &mut binds);
        clauses.push(format!("a.price_min_cents <= {n}"));
    }
    if let Some(min) = q.min_rating_centi {
        let n = next(Bind::Int(min), &mut binds);
        clauses.push(format!("a.rating_count > 0 AND a.rating_avg_centi >= {n}"));
    }
    if q.books_open {
        clauses.push("a.books_open".to_owned());
    }
    if q.healed_only {
        clauses.push(
            "EXISTS (SELECT 1 FROM portfolio_items p WHERE p.artist_id = a.id AND p.healed)"
                .to_owned(),
        );
    }
    if let Some(text) = &q.text {
        // LIKE wildcards typed by the user match themselves.
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let n = next(Bind::Text(format!("%{escaped}%")), &mut binds);
        clauses.push(format!("a.search_text LIKE {n} ESCAPE '\\'"));
    }
    let filter = format!("WHERE {}", clauses.join(" AND "));
    (filter, binds)
}

/// The two statements one search runs: the page of artists and the total count.
#[derive(Debug, Clone)]
pub struct SearchStatements {
    pub page_sql: String,
    pub page_binds: Vec<Bind>,
    pub count_sql: String,
    pub count_binds: Vec<Bind>,
}

impl SearchStatements {
    /// The statements with their values written in as literals, for `pgbench -f` (benchmarks
    /// only: the service always binds).
    pub fn inlined(&self) -> (String, String) {
        let inline = |sql: &str, binds: &[Bind]| {
            // Highest number first, so `$1` never matches the start of `$10`.
            binds
                .iter()
                .enumerate()
                .rev()
                .fold(sql.to_owned(), |sql, (i, b)| {
                    let literal = match b {
                        Bind::Text(t) => format!("'{}'", t.replace('\'', "''")),
                        Bind::Int(n) => n.to_string(),
                    };
                    sql.replace(&format!("${}", i + 1), &literal)
                })
        };
        (
            inline(&self.page_sql, &self.page_binds),
            inline(&self.count_sql, &self.count_binds),
        )
    }
}

/// Builds a search's statements; `aggregate` is the dialect's string aggregate over `st.style`.
/// How each database is told which artists are on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDialect {
    Postgres,
    Sqlite,
}

pub fn search_statements(q: &crate::ArtistQuery, dialect: SearchDialect) -> SearchStatements {
    let (filter, binds) = search_filter(q);
    let order = search_order(q.sort);
    let from = "FROM artists a";
    let limit = binds.len() + 1;
    let page_ids = format!(
        "SELECT a.id {from} {filter} ORDER BY {order} LIMIT ${limit} OFFSET ${offset}",
        offset = limit + 1
    );
    // The page's ids are picked first and the cards are built for those alone. PostgreSQL gets
    // them as an array: a prepared statement soon runs a generic plan, which cannot know that
    // `LIMIT $n` is small, and planned a join to the page as a scan of every artist (762 against
    // 1,031 tps in pgbench with binds); `= ANY(array)` is an index lookup in any plan.
    let (aggregate, on_page) = match dialect {
        SearchDialect::Postgres => (
            "string_agg(st.style, ',')",
            format!("a.id = ANY (ARRAY({page_ids}))"),
        ),
        SearchDialect::Sqlite => (
            "group_concat(st.style, ',')",
            format!("a.id IN ({page_ids})"),
        ),
    };
    let page_sql = format!(
        "SELECT a.id, a.slug, u.display_name, a.city, a.country, a.currency, s.name AS studio_name, \
         (SELECT {aggregate} FROM artist_styles st WHERE st.artist_id = a.id) AS styles, \
         a.books_open, a.price_min_cents, a.price_max_cents, \
         (SELECT p.thumb_path FROM portfolio_items p WHERE p.artist_id = a.id ORDER BY p.healed DESC, p.id LIMIT 1) AS thumb_path, \
         a.rating_count, a.rating_avg_centi \
         FROM artists a JOIN users u ON u.id = a.user_id \
         LEFT JOIN studios s ON s.id = a.studio_id WHERE {on_page} ORDER BY {order}"
    );
    let per_page = i64::from(q.per_page.clamp(1, 100));
    let offset = i64::from(q.page.max(1) - 1) * per_page;
    let mut page_binds = binds.clone();
    page_binds.push(Bind::Int(per_page));
    page_binds.push(Bind::Int(offset));
    SearchStatements {
        page_sql,
        page_binds,
        count_sql: format!("SELECT COUNT(*) {from} {filter}"),
        count_binds: binds,
    }
}

/// PostgreSQL's statements for a search, as the service runs them.
pub fn postgres_search_statements(q: &crate::ArtistQuery) -> SearchStatements {
    search_statements(q, SearchDialect::Postgres)
}

pub(crate) fn search_order(sort: crate::SearchSort) -> &'static str {
    use crate::SearchSort as S;
    match sort {
        S::Featured => "a.books_open DESC, a.id",
        S::Rating => "a.rating_avg_centi DESC, a.rating_count DESC, a.id",
        S::PriceLow => "a.price_min_cents, a.id",
        S::Newest => "a.id DESC",
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SearchRow {
    #[sqlx(flatten)]
    card: crate::rows::ArtistCardRow,
    rating_count: i64,
    rating_avg_centi: i64,
}

impl From<SearchRow> for crate::SearchHit {
    fn from(r: SearchRow) -> Self {
        crate::SearchHit {
            card: r.card.into(),
            rating_count: r.rating_count,
            rating_centi: (r.rating_count > 0).then_some(r.rating_avg_centi),
        }
    }
}
