//! `marketctl`: see `marketctl --help`.

fn main() -> std::process::ExitCode {
    marketctl::cli::main()
}
