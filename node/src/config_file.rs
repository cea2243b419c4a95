//! Reading `aufruf.toml` from disk. Parsing and validation are the model's; this adds
//! the file itself, so every error names the file it is about.

use std::path::Path;

use aufruf_model::config::DeviceTables;
use aufruf_model::{ConfigError, OfficeConfig};

/// The example office configuration shipped in the repository, used when no file is
/// given to commands that can do without one.
pub use aufruf_office::{EXAMPLE, EXAMPLE_NAME};

/// Reads and validates the office configuration at `path` (a device's own tables in
/// it are allowed and left out).
pub fn load(path: &Path) -> Result<OfficeConfig, ConfigError> {
    load_device(path)?.0.ok_or_else(|| ConfigError {
        file: path.display().to_string(),
        line: None,
        field: "office".to_owned(),
        problem: "this file has no office configuration ([office], [[departments]], \
                  [[services]], [[desks]])"
            .to_owned(),
    })
}

/// Reads the office's configuration alone (no device tables), as `aufruf config
/// apply` publishes it: the file's text and the configuration it holds.
pub fn load_office(path: &Path) -> Result<(String, OfficeConfig), ConfigError> {
    let file = path.display().to_string();
    let text = read(path)?;
    let config = OfficeConfig::from_toml(&file, &text)?;
    Ok((text, config))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: None,
        field: "(file)".to_owned(),
        problem: format!("cannot be read: {e}"),
    })
}

/// Reads a device's file: the device's own tables and, if it has them, the office's
/// configuration.
pub fn load_device(path: &Path) -> Result<(Option<OfficeConfig>, DeviceTables), ConfigError> {
    let file = path.display().to_string();
    let text = read(path)?;
    OfficeConfig::from_device_file(&file, &text)
}

/// The configuration at `path`, or the built-in example when there is none.
pub fn load_or_example(path: Option<&Path>) -> Result<OfficeConfig, ConfigError> {
    match path {
        Some(path) => load(path),
        None => OfficeConfig::from_toml(EXAMPLE_NAME, EXAMPLE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let config = load_or_example(None).unwrap();
        assert_eq!(config.office.id.as_str(), "zeitz");
        assert!(config.desks.len() >= 6);
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err = load(Path::new("/nonexistent/aufruf.toml")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/nonexistent/aufruf.toml: (file): cannot be read"),
            "{text}"
        );
    }
}
