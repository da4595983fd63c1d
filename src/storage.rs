//! The data file: loading it at start-up (spec §8.2) and replacing it atomically.
//!
//! The data file is plain compact JSON with sorted keys, as the original writes it, so files
//! move freely between the two servers. A file is only ever replaced through `<file>.new`,
//! fsync, rename and a directory fsync: a crash at any point leaves either the old or the new
//! file, never a torn one.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::json;

/// Deep enough for any document the server itself can write (`--max-depth` is far lower), and
/// for hand-made files the original accepted; deeper files are refused rather than risking the
/// stack in serialization or drop.
pub const MAX_FILE_DEPTH: usize = 10_000;

pub struct Loaded {
    pub document: Value,
    /// A warning for the start-up log (file created, empty file replaced).
    pub notice: Option<String>,
}

/// Why the data file cannot be used. `Display` is the one line printed on stderr.
#[derive(Debug)]
pub enum LoadError {
    PermissionDenied(PathBuf),
    Read(PathBuf, io::Error),
    Create(PathBuf, io::Error),
    Decode(PathBuf, String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::PermissionDenied(path) => write!(
                f,
                "File {} cannot be read due to a permission error. Please check the file permissions.",
                path.display()
            ),
            LoadError::Read(path, error) => write!(f, "Cannot read {}: {error}", path.display()),
            LoadError::Create(path, error) => {
                write!(f, "Cannot create the data file {}: {error}", path.display())
            }
            LoadError::Decode(path, reason) => {
                write!(f, "Failed to decode the initial data in {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads the data file, creating it with `{}` when it is missing or empty. A file that does not
/// decode is left exactly as it is.
pub fn load_or_create(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let document = Value::Object(serde_json::Map::new());
            write_snapshot(path, &document).map_err(|e| LoadError::Create(path.to_owned(), e))?;
            let notice = format!(
                "WARNING: Could not read data from {} because the file does not exist yet. \
                 Created an empty database instead.",
                path.display()
            );
            return Ok(Loaded { document, notice: Some(notice) });
        }
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            return Err(LoadError::PermissionDenied(path.to_owned()));
        }
        Err(error) => return Err(LoadError::Read(path.to_owned(), error)),
    };
    if bytes.is_empty() {
        let document = Value::Object(serde_json::Map::new());
        write_snapshot(path, &document).map_err(|e| LoadError::Create(path.to_owned(), e))?;
        let notice = format!(
            "WARNING: The provided --data-file {} is empty. Will write a default database of {{}} \
             to this file.",
            path.display()
        );
        return Ok(Loaded { document, notice: Some(notice) });
    }
    let document = json::parse(&bytes, MAX_FILE_DEPTH)
        .map_err(|error| LoadError::Decode(path.to_owned(), error.to_string()))?;
    Ok(Loaded { document, notice: None })
}

/// `<file>.new`, the temporary name the original also uses.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".new");
    PathBuf::from(name)
}

/// Replaces the data file with `document` atomically and durably. Returns the bytes written.
pub fn write_snapshot(path: &Path, document: &Value) -> io::Result<u64> {
    let temporary = temporary_path(path);
    let written = (|| {
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(&temporary)?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        serde_json::to_writer(&mut writer, document).map_err(io::Error::other)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        file.metadata().map(|m| m.len())
    })();
    let written = match written {
        Ok(written) => written,
        Err(error) => {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
    };
    fs::rename(&temporary, path)?;
    sync_parent_directory(path)?;
    Ok(written)
}

/// Makes a rename in the file's directory durable.
pub fn sync_parent_directory(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Serialized form of a value as the data file and the wire carry it: compact, sorted keys.
pub fn to_compact_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Serializing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::test_support::TempDir;

    #[test]
    fn missing_file_is_created_with_an_empty_object() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("icepeak.json");
        let loaded = load_or_create(&path).expect("load");
        assert_eq!(loaded.document, json!({}));
        assert!(loaded.notice.unwrap_or_default().contains("does not exist yet"));
        assert_eq!(fs::read(&path).expect("file"), b"{}");
        assert!(!temporary_path(&path).exists());
    }

    #[test]
    fn empty_file_becomes_an_empty_object() {
        let dir = TempDir::new("empty");
        let path = dir.0.join("icepeak.json");
        fs::write(&path, b"").expect("write");
        let loaded = load_or_create(&path).expect("load");
        assert_eq!(loaded.document, json!({}));
        assert_eq!(fs::read(&path).expect("file"), b"{}");
    }

    #[test]
    fn undecodable_file_is_refused_and_untouched() {
        let dir = TempDir::new("bad");
        let path = dir.0.join("icepeak.json");
        for content in [&b"{bad"[..], b"\n", b"{} x", b"\"\xff\xfe\""] {
            fs::write(&path, content).expect("write");
            let error = load_or_create(&path).err().expect("must fail");
            let line = error.to_string();
            assert!(
                line.starts_with(&format!(
                    "Failed to decode the initial data in {}: ",
                    path.display()
                )),
                "{line}"
            );
            assert_eq!(fs::read(&path).expect("file"), content);
        }
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = TempDir::new("nodir");
        let path = dir.0.join("no/such/dir/icepeak.json");
        assert!(matches!(load_or_create(&path), Err(LoadError::Create(..))));
    }

    #[test]
    fn snapshot_is_compact_sorted_and_replaces_atomically() {
        let dir = TempDir::new("snapshot");
        let path = dir.0.join("data.json");
        fs::write(&path, b"{\"old\": true}").expect("write");
        let document =
            json!({"b": 1, "a": {"d": [1, 2], "c": null}, "big": 12345678901234567890123u128});
        let written = write_snapshot(&path, &document).expect("snapshot");
        let bytes = fs::read(&path).expect("file");
        assert_eq!(bytes, br#"{"a":{"c":null,"d":[1,2]},"b":1,"big":12345678901234567890123}"#);
        assert_eq!(written, bytes.len() as u64);
        assert!(!temporary_path(&path).exists());
        assert_eq!(load_or_create(&path).expect("reload").document, document);
    }
}
