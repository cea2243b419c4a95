//! Compiles the screens' `.slint` files with their translations (`lang/<language>/
//! LC_MESSAGES/aufruf-ui.po`) built in. Debug info keeps the elements' accessible
//! labels findable, which the tests drive the screens by.
fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_debug_info(true)
        .with_bundled_translations("lang")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None);
    if let Err(e) = slint_build::compile_with_config("ui/screens.slint", config) {
        // A build script reports its failure by panicking.
        panic!("the screens do not compile: {e}");
    }
}
