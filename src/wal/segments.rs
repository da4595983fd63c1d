//! Where the write-ahead log's segment files live and how they are named.
//!
//! Segments sit next to the data file as `<data file>.wal.<sequence>`, the sequence written as
//! 20 zero-padded decimal digits: every `u64` fits, and names sort like their numbers in a
//! directory listing, which helps whoever looks at the files by hand.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const SEQUENCE_DIGITS: usize = 20;

/// `<data file>.wal.<sequence as 20 digits>`.
#[must_use]
pub fn segment_path(data_file: &Path, sequence: u64) -> PathBuf {
    let mut name = OsString::from(data_file.as_os_str());
    name.push(format!(".wal.{sequence:0width$}", width = SEQUENCE_DIGITS));
    PathBuf::from(name)
}

/// All segment files of this data file, sorted by sequence. Other files are ignored (a file
/// with the prefix but a malformed number is ignored too).
///
/// # Errors
///
/// When the directory cannot be read.
pub fn list_segments(data_file: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let Some((directory, prefix)) = directory_and_prefix(data_file) else {
        return Ok(Vec::new());
    };
    let mut segments = Vec::new();
    for entry in fs::read_dir(&directory)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(sequence) =
            name.as_encoded_bytes().strip_prefix(prefix.as_slice()).and_then(parse_sequence)
        else {
            continue;
        };
        if entry.file_type()?.is_dir() {
            continue;
        }
        segments.push((sequence, entry.path()));
    }
    segments.sort_unstable_by_key(|(sequence, _)| *sequence);
    Ok(segments)
}

/// The directory to list and the file name prefix of segments (as encoded bytes), derived from
/// [`segment_path`] itself so that naming and listing cannot disagree. A bare file name lives
/// in the current directory.
fn directory_and_prefix(data_file: &Path) -> Option<(PathBuf, Vec<u8>)> {
    let example = segment_path(data_file, 0);
    let name = example.file_name()?.as_encoded_bytes();
    let prefix = name.get(..name.len().checked_sub(SEQUENCE_DIGITS)?)?;
    let directory = match example.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    Some((directory, prefix.to_vec()))
}

fn parse_sequence(digits: &[u8]) -> Option<u64> {
    if digits.len() != SEQUENCE_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |number, &digit| {
        number.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::TempDir;

    #[test]
    fn segment_names() {
        assert_eq!(
            segment_path(Path::new("icepeak.json"), 7),
            PathBuf::from("icepeak.json.wal.00000000000000000007")
        );
        assert_eq!(
            segment_path(Path::new("/var/lib/db.json"), u64::MAX),
            PathBuf::from("/var/lib/db.json.wal.18446744073709551615")
        );
    }

    #[test]
    fn bare_file_names_are_listed_in_the_current_directory() {
        let (directory, prefix) =
            directory_and_prefix(Path::new("icepeak.json")).expect("a prefix");
        assert_eq!(directory, PathBuf::from("."));
        assert_eq!(prefix, b"icepeak.json.wal.");
        let (directory, prefix) =
            directory_and_prefix(Path::new("data/icepeak.json")).expect("a prefix");
        assert_eq!(directory, PathBuf::from("data"));
        assert_eq!(prefix, b"icepeak.json.wal.");
    }

    #[test]
    fn sequences_must_be_exactly_twenty_digits_and_fit() {
        assert_eq!(parse_sequence(b"00000000000000000042"), Some(42));
        assert_eq!(parse_sequence(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_sequence(b"18446744073709551616"), None);
        assert_eq!(parse_sequence(b"99999999999999999999"), None);
        assert_eq!(parse_sequence(b"42"), None);
        assert_eq!(parse_sequence(b"000000000000000000042"), None);
        assert_eq!(parse_sequence(b"0000000000000000004x"), None);
        assert_eq!(parse_sequence(b"+0000000000000000042"), None);
        assert_eq!(parse_sequence(b""), None);
    }

    #[test]
    fn lists_only_this_data_files_segments_in_order() {
        let dir = TempDir::new("list");
        let data_file = dir.0.join("icepeak.json");
        for sequence in [10, 2, 1_000_000_000_000, 3] {
            fs::write(segment_path(&data_file, sequence), b"").expect("segment");
        }
        let ignored = [
            "icepeak.json",
            "icepeak.json.new",
            "icepeak.json.journal",
            "icepeak.json.wal.",
            "icepeak.json.wal.7",
            "icepeak.json.wal.0000000000000000000x",
            "icepeak.json.wal.00000000000000000005.tmp",
            "icepeak.json.wal.99999999999999999999",
            "other.json.wal.00000000000000000004",
            "xicepeak.json.wal.00000000000000000004",
        ];
        for name in ignored {
            fs::write(dir.0.join(name), b"").expect("other file");
        }
        fs::create_dir(segment_path(&data_file, 6)).expect("directory");

        let listed = list_segments(&data_file).expect("list");
        let expected: Vec<(u64, PathBuf)> = [2, 3, 10, 1_000_000_000_000]
            .into_iter()
            .map(|sequence| (sequence, segment_path(&data_file, sequence)))
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn no_segments_is_an_empty_list_and_a_missing_directory_an_error() {
        let dir = TempDir::new("empty");
        let data_file = dir.0.join("icepeak.json");
        assert_eq!(list_segments(&data_file).expect("list"), Vec::new());
        assert!(list_segments(&dir.0.join("missing/icepeak.json")).is_err());
    }
}
