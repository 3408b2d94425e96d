//! Prints the SQL one search runs on PostgreSQL, values inlined, as a pgbench script, so the
//! search benchmark (`bench/search.sh`) measures the database on exactly the service's statements.
//!
//! usage: cargo run --release -p marketplace --example search_sql -- 'style=fine-line&city=Berlin'

fn main() -> std::process::ExitCode {
    let raw = std::env::args().nth(1).unwrap_or_default();
    let params: marketplace::search::SearchParams = match serde_urlencoded::from_str(&raw) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("not a query string: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let query = match params.parse() {
        Ok(q) => q,
        Err(e) => {
            eprintln!("invalid search: {e:?}");
            return std::process::ExitCode::from(2);
        }
    };
    let (page, count) = storage::postgres_search_statements(&query).inlined();
    println!("{page};\n{count};");
    std::process::ExitCode::SUCCESS
}
