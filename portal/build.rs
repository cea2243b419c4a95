//! Embeds KERN (npm `@kern-ux/native`, installed by `scripts/setup.sh` into
//! `portal/node_modules`) into the binary: its stylesheet and the Fira Sans weights the
//! stylesheet uses. The files are not in the repository; a missing or stale install is
//! a build error that says what to run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The font files embedded, with the weight each one is (KERN uses 400, 500 and 600).
const FONTS: [(&str, u16); 3] = [
    ("FiraSans-Regular.woff2", 400),
    ("FiraSans-Medium.woff2", 500),
    ("FiraSans-SemiBold.woff2", 600),
];

fn main() {
    if let Err(problem) = run() {
        // A build script reports through its exit status and stderr.
        eprintln!("error: {problem}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let package = manifest.join("node_modules/@kern-ux/native");
    let dist = package.join("dist");
    println!("cargo:rerun-if-changed=package.json");
    println!("cargo:rerun-if-changed=package-lock.json");
    println!(
        "cargo:rerun-if-changed={}",
        package.join("package.json").display()
    );

    let wanted = pinned_version(&manifest.join("package.json"))?;
    let installed = installed_version(&package.join("package.json")).map_err(|why| {
        format!(
            "KERN (@kern-ux/native) is not installed in {} ({why}). \
             Run scripts/setup.sh (it runs `npm ci` in portal/).",
            manifest.join("node_modules").display()
        )
    })?;
    if installed != wanted {
        return Err(format!(
            "KERN {installed} is installed but package.json pins {wanted}. \
             Run scripts/setup.sh to reinstall it."
        ));
    }

    let css = dist.join("kern.min.css");
    let mut code = String::new();
    let _ = writeln!(code, "/// KERN's stylesheet, version {installed}.");
    let _ = writeln!(
        code,
        "pub const KERN_CSS: &[u8] = include_bytes!({:?});",
        existing(&css)?
    );
    let _ = writeln!(code, "/// KERN's version.");
    let _ = writeln!(code, "pub const KERN_VERSION: &str = {installed:?};");
    let _ = writeln!(code, "/// The embedded fonts: file name, contents.");
    let _ = writeln!(code, "pub const FONTS: &[(&str, &[u8])] = &[");
    let mut faces = String::new();
    for (file, weight) in FONTS {
        let path = dist.join("fonts/fira-sans").join(file);
        let _ = writeln!(
            code,
            "    ({file:?}, include_bytes!({:?})),",
            existing(&path)?
        );
        let _ = writeln!(
            faces,
            "@font-face{{font-family:'Fira Sans';src:url(\"/assets/fonts/{file}\") format('woff2');font-weight:{weight};font-style:normal;font-display:swap}}"
        );
    }
    let _ = writeln!(code, "];");
    let _ = writeln!(code, "/// `@font-face` rules for the embedded fonts.");
    let _ = writeln!(code, "pub const FONTS_CSS: &str = {faces:?};");
    std::fs::write(out.join("kern_assets.rs"), code).map_err(|e| e.to_string())
}

fn existing(path: &Path) -> Result<PathBuf, String> {
    println!("cargo:rerun-if-changed={}", path.display());
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "{} is missing: KERN is not installed completely. Run scripts/setup.sh.",
            path.display()
        ))
    }
}

/// The version `package.json` pins for `@kern-ux/native` (an exact version).
fn pinned_version(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    version_after(&text, "\"@kern-ux/native\"")
        .ok_or_else(|| format!("{} pins no version of @kern-ux/native", file.display()))
}

fn installed_version(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    version_after(&text, "\"version\"").ok_or_else(|| "its package.json names no version".into())
}

/// The string value after `key` in a small JSON text (`"key": "value"`).
fn version_after(text: &str, key: &str) -> Option<String> {
    let rest = &text[text.find(key)? + key.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}
