//! Which grammar reads a family's text: the one place that knows every family.
//!
//! The family modules (`llama3`, `qwen2`, `mistral`) are leaves over the
//! scanner; this dispatch depends on them, and `parse` and the streaming
//! `Detector` call it, so no arrow points back into the scanner.

use super::scan::{At, Cx, Scan};
use super::{llama3, mistral, qwen2};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama3,
    Qwen2,
    Mistral,
}

impl Family {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "llama3" => Some(Self::Llama3),
            "qwen2" => Some(Self::Qwen2),
            "mistral" => Some(Self::Mistral),
            _ => None,
        }
    }
}

/// Scan `cx.text` from `at` with the family's grammar.
pub(crate) fn scan(family: Family, cx: &mut Cx, at: At) -> Scan {
    match family {
        Family::Llama3 => llama3::scan(cx, at),
        Family::Qwen2 => qwen2::scan(cx, at),
        Family::Mistral => mistral::scan(cx, at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names() {
        assert_eq!(Family::from_name("qwen2"), Some(Family::Qwen2));
        assert_eq!(Family::from_name("llama3"), Some(Family::Llama3));
        assert_eq!(Family::from_name("mistral"), Some(Family::Mistral));
        assert_eq!(Family::from_name("gpt"), None);
    }
}
