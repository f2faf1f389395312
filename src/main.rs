//! The `chasqui` command.

fn main() -> std::process::ExitCode {
    chasqui::cli::main()
}
