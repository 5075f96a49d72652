//! Reading master keys from strings and files, and creating the key file on first start.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::envelope::{zero_key, SecretKey, KEY_LEN};
use crate::VaultError;

/// Name of the key file inside the data directory.
pub(crate) const KEY_FILE_NAME: &str = "master.key";

const HEX_LEN: usize = 2 * KEY_LEN;
/// Longest base64 of 32 bytes (44 with padding); longer input is rejected before decoding.
const MAX_B64_LEN: usize = 44;

/// Operators paste keys from many tools, so padding is optional and both alphabets are accepted.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const B64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const B64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Parses 64 hex characters or base64 of exactly 32 bytes (surrounding whitespace ignored).
/// Error messages describe the shape only, never the input.
pub(crate) fn parse_key(s: &str) -> Result<SecretKey, VaultError> {
    let s = s.trim();
    let mut key = zero_key();
    if s.is_empty() {
        return Err(VaultError::BadMasterKey("the master key is empty".into()));
    }
    if s.len() == HEX_LEN && hex::decode_to_slice(s, &mut key[..]).is_ok() {
        return Ok(key);
    }
    if s.len() <= MAX_B64_LEN {
        // Room for any input up to MAX_B64_LEN characters, so decoding never fails for lack of space.
        let mut buf = Zeroizing::new([0u8; MAX_B64_LEN]);
        for engine in [&B64_STANDARD, &B64_URL_SAFE] {
            if let Ok(n) = engine.decode_slice(s, &mut buf[..]) {
                if n == KEY_LEN {
                    key.copy_from_slice(&buf[..KEY_LEN]);
                    return Ok(key);
                }
            }
        }
    }
    Err(VaultError::BadMasterKey(format!(
        "expected 64 hex characters or base64 of 32 bytes (got {} characters)",
        s.len()
    )))
}

/// Lowercase hex of a key, built in a buffer allocated once at its final size so no partial copy
/// of the key is left behind by a reallocation.
pub(crate) fn key_hex(key: &[u8; KEY_LEN]) -> Zeroizing<String> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Zeroizing::new(String::with_capacity(HEX_LEN));
    for b in key {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

pub(crate) fn read_key_file(path: &Path) -> Result<SecretKey, VaultError> {
    let text = Zeroizing::new(
        fs::read_to_string(path).map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))?,
    );
    parse_key(&text).map_err(|e| match e {
        VaultError::BadMasterKey(msg) => {
            VaultError::BadMasterKey(format!("{}: {msg}", path.display()))
        }
        other => other,
    })
}

/// Loads `<data_dir>/master.key`, creating it with `fresh` as content if it does not exist yet.
/// Returns the key actually in the file (another process may have won the race to create it).
pub(crate) fn load_or_create(data_dir: &Path, fresh: SecretKey) -> Result<SecretKey, VaultError> {
    let path = data_dir.join(KEY_FILE_NAME);
    let io_err = |e: io::Error| VaultError::Io(format!("{}: {e}", path.display()));
    match fs::metadata(&path) {
        Ok(_) => {
            // It may have just been created by a process that is still writing it.
            wait_until_written(&path);
            return read_key_file(&path);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    create_dir(data_dir).map_err(|e| VaultError::Io(format!("{}: {e}", data_dir.display())))?;
    match create_key_file(&path, &fresh) {
        Ok(()) => Ok(fresh),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            wait_until_written(&path);
            read_key_file(&path)
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Another process may have created the file an instant ago; give it a moment to finish
/// writing so we do not read an empty file.
fn wait_until_written(path: &Path) {
    for _ in 0..50 {
        if fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        // Only applies to directories created here; an existing data dir keeps its mode.
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes the key to a fresh temporary file (created 0600 with `create_new`, fsynced) and links
/// it in as `path` only if `path` does not exist yet: never a partly written key file, and never
/// an overwritten key that may already seal data.
fn create_key_file(path: &Path, key: &[u8; KEY_LEN]) -> io::Result<()> {
    let temp = write_temp(path, key)?;
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    linked?;
    sync_dir(path);
    Ok(())
}

/// Writes `key` durably at `path`, replacing it: temporary file 0600, fsync, rename, fsync of the
/// directory. For rotation's pending key, which must be on disk before any row is re-wrapped.
pub(crate) fn write_key_file(path: &Path, key: &[u8; KEY_LEN]) -> io::Result<()> {
    let temp = write_temp(path, key)?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(path);
    Ok(())
}

/// Ends a rotation: the current key file stays as `master.key.<retired_key_id>.old` (a hard link,
/// so it exists before the swap), then `pending` is renamed over `master.key`. Returns the path
/// of the kept old key.
pub(crate) fn install_key_file(
    data_dir: &Path,
    pending: &Path,
    retired_key_id: &str,
) -> io::Result<PathBuf> {
    let current = data_dir.join(KEY_FILE_NAME);
    let kept = data_dir.join(format!("{KEY_FILE_NAME}.{retired_key_id}.old"));
    match fs::hard_link(&current, &kept) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    sync_dir(&kept);
    fs::rename(pending, &current)?;
    sync_dir(&current);
    Ok(kept)
}

/// `<path>.<random>.tmp`, created with `create_new` and mode 0600, holding the key, fsynced.
fn write_temp(path: &Path, key: &[u8; KEY_LEN]) -> io::Result<PathBuf> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.tmp", hex::encode(rand::random::<[u8; 6]>())));
    let temp = PathBuf::from(name);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    let text = key_hex(key);
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

/// Makes the new directory entry durable: losing the key file after a crash would lose every
/// value sealed under it. Best effort, since not every filesystem supports syncing a directory.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
