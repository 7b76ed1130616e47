//! The `stib` binary: see `stib --help`.

fn main() -> std::process::ExitCode {
    stib::cli::main()
}
