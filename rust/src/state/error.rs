//! What can go wrong with the state table. Data from the file is never
//! trusted: a corrupt or foreign file gives `Corrupt`/`Mismatch`, not a panic.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// Opening, sizing, locking or mapping the file failed.
    Io(io::Error),
    /// The file is not a state file, or its contents break the layout.
    Corrupt(String),
    /// A valid state file made with another layout or capacity.
    Mismatch(String),
    /// The capacity asked for is 0 or above `MAX_CAPACITY`.
    BadCapacity(usize),
    /// Every slot holds another key.
    Full {
        capacity: usize,
    },
    KeyTooLong {
        len: usize,
        max: usize,
    },
    /// Out of range, or the slot holds no key yet.
    BadSlot(usize),
    BadField(usize),
    /// A slot stayed "claiming" too long: its writer probably died mid-insert.
    Stuck(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "state file: {e}"),
            Error::Corrupt(why) => write!(f, "corrupt state file: {why}"),
            Error::Mismatch(why) => write!(f, "state file layout mismatch: {why}"),
            Error::BadCapacity(c) => write!(
                f,
                "capacity {c} out of range (1..={})",
                super::layout::MAX_CAPACITY
            ),
            Error::Full { capacity } => write!(f, "state table full ({capacity} slots)"),
            Error::KeyTooLong { len, max } => write!(f, "key of {len} bytes is longer than {max}"),
            Error::BadSlot(s) => write!(f, "slot {s} is out of range or holds no key"),
            Error::BadField(i) => write!(
                f,
                "field {i} is out of range (0..{})",
                super::layout::FIELDS
            ),
            Error::Stuck(s) => write!(f, "slot {s} stayed mid-insert too long (did a writer die?)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
