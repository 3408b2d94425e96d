//! `marketplace`: serve, migrate, seed-demo, healthcheck, version.

fn main() -> std::process::ExitCode {
    marketplace::cli::main()
}
