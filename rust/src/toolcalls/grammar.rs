//! Which grammar reads a family's text: the one place that knows every family.
//!
//! The family modules (`llama3`, `qwen2`, `mistral`) are leaves over the
//! scanner; this dispatch depends on them, and `parse` and the streaming
//! `Detector` call it, so no arrow points back into the scanner.

use super::scan::{At, Cx, Scan};
use super::{llama3, mistral, qwen2};
use crate::family::ChatFamily;

/// Scan `cx.text` from `at` with the family's grammar.
pub(crate) fn scan(family: ChatFamily, cx: &mut Cx, at: At) -> Scan {
    match family {
        ChatFamily::Llama3 => llama3::scan(cx, at),
        ChatFamily::Qwen2 => qwen2::scan(cx, at),
        ChatFamily::Mistral => mistral::scan(cx, at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names() {
        assert_eq!(ChatFamily::from_name("qwen2"), Some(ChatFamily::Qwen2));
        assert_eq!(ChatFamily::from_name("llama3"), Some(ChatFamily::Llama3));
        assert_eq!(ChatFamily::from_name("mistral"), Some(ChatFamily::Mistral));
        assert_eq!(ChatFamily::from_name("gpt"), None);
    }
}
