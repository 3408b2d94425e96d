//! Bare axum serving one file's bytes at every path: what the marketplace is measured against.

use axum::Router;
use axum::response::Html;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: bench-baseline ADDR FILE");
        std::process::exit(2);
    };
    let body: &'static str = Box::leak(std::fs::read_to_string(&file)?.into_boxed_str());
    let app = Router::new().fallback(move || async move { Html(body) });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
