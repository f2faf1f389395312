//! `sqlx::migrate!` reads the PostgreSQL migrations at compile time: rebuild when one is added,
//! not only when a Rust file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
