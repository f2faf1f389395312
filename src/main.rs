//! The `chasqui` command.

// glibc malloc contends on its arena locks across the HTTP workers and the SQLite writer.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chasqui::cli::main()
}
