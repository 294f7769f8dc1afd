//! Rebuild when a migration is added: `embed_migrations!` reads the
//! directories at compile time, but cargo only tracks files it is told about.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
