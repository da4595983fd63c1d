//! The one owned state of the server: the document and what persists it.
//!
//! Only the reactor thread touches it, through `&mut State`; there is no lock anywhere. Later
//! parts (write-ahead log, subscription trie, metrics) live here too, so that one write updates
//! all of them in the same step.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::document::{Document, Modification};
use crate::storage::{self, LoadError};

pub struct State {
    document: Document,
    /// `None` for a state that lives only in memory (tests).
    data_file: Option<PathBuf>,
    /// Writes applied since the data file was last written.
    unsaved_changes: bool,
}

impl State {
    /// Loads (or creates) the data file. The notice, if any, belongs in the start-up log.
    pub fn open(data_file: &Path) -> Result<(State, Option<String>), LoadError> {
        let loaded = storage::load_or_create(data_file)?;
        let state = State {
            document: Document::new(loaded.document),
            data_file: Some(data_file.to_owned()),
            unsaved_changes: false,
        };
        Ok((state, loaded.notice))
    }

    /// A state without a data file: `save` keeps nothing.
    pub fn in_memory(root: Value) -> State {
        State {
            document: Document::new(root),
            data_file: None,
            unsaved_changes: false,
        }
    }

    pub fn get(&self, path: &[String]) -> Option<&Value> {
        self.document.get(path)
    }

    pub fn document(&self) -> &Document {
        &self.document
    }

    /// Applies a write at once, so the next read sees it (D4).
    pub fn apply(&mut self, modification: Modification) {
        self.document.apply(modification);
        self.unsaved_changes = true;
    }

    /// Writes the document to the data file if anything changed since the last save.
    pub fn save(&mut self) -> io::Result<()> {
        if let (true, Some(data_file)) = (self.unsaved_changes, &self.data_file) {
            storage::write_snapshot(data_file, self.document.root())?;
            self.unsaved_changes = false;
        }
        Ok(())
    }
}
