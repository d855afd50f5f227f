//! The integration tests link this connector beside the SQL connector
//! (the two-way pair of `tests/pair_sql.rs`); both export the plugin
//! descriptor `TANDEM_PLUGIN`, which only matters to the host when it loads
//! a library. Test binaries let the linker keep the first.

fn main() {
    println!("cargo::rustc-link-arg-tests=-Wl,--allow-multiple-definition");
}
