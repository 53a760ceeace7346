//! uniffi's bindgen command line, built from the workspace so its version always matches the
//! scaffolding in the library (library mode reads the metadata the library embeds).

fn main() {
    uniffi::uniffi_bindgen_main()
}
