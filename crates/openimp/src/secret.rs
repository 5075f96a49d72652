//! Secrets given without a command line: every secret flag `--x` also reads `OPENIMP_X` (through
//! clap) and has a `--x-file` twin (and `OPENIMP_X_FILE`), so keys stay out of `ps` and shell
//! history. [`SecretSource::resolve`] is the one place that picks among the three.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A secret flag's value and its file twin, as clap parsed them.
pub struct SecretSource<'a> {
    /// The flag's name without dashes, for messages (never the value).
    pub flag: &'a str,
    /// `--flag` or its environment variable.
    pub value: Option<String>,
    /// `--flag-file` or its environment variable; `-` reads standard input.
    pub file: Option<PathBuf>,
}

impl SecretSource<'_> {
    /// The secret from the flag (or its variable) or from the file, never both. A file's
    /// trailing newline is dropped (`echo key > file` is how most people write one).
    pub fn resolve(self) -> anyhow::Result<Option<String>> {
        let flag = self.flag;
        match (self.value, self.file) {
            (Some(_), Some(_)) => {
                bail!("give --{flag} or --{flag}-file (or their environment variables), not both")
            }
            (Some(value), None) => Ok(Some(value)),
            (None, Some(path)) => read_secret_file(&path, flag).map(Some),
            (None, None) => Ok(None),
        }
    }
}

fn read_secret_file(path: &Path, flag: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read --{flag}-file from standard input"))?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --{flag}-file {}", path.display()))?;
    }
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        bail!("--{flag}-file {} is empty", path.display());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(value: Option<&str>, file: Option<&Path>) -> SecretSource<'static> {
        SecretSource {
            flag: "sign-key",
            value: value.map(str::to_owned),
            file: file.map(Path::to_path_buf),
        }
    }

    #[test]
    fn value_file_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "s3cret-value\n").unwrap();
        assert_eq!(source(Some("inline"), None).resolve().unwrap().as_deref(), Some("inline"));
        assert_eq!(source(None, Some(&path)).resolve().unwrap().as_deref(), Some("s3cret-value"));
        assert_eq!(source(None, None).resolve().unwrap(), None);
    }

    #[test]
    fn both_or_an_empty_file_is_refused_without_echoing_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "s3cret-value").unwrap();
        let err = source(Some("inline-secret"), Some(&path)).resolve().unwrap_err().to_string();
        assert!(err.contains("not both") && !err.contains("inline-secret"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        let err = source(None, Some(&path)).resolve().unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
        let missing = dir.path().join("absent");
        assert!(source(None, Some(&missing)).resolve().is_err());
    }
}
