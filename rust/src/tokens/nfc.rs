//! Whether a text is already in NFC, answered quickly for the common scripts.
//!
//! Qwen normalizes to NFC before splitting. `unicode_normalization`'s quick
//! check looks every char up in two tables (quick-check value, combining
//! class): over a 20 KB Cyrillic prompt that was a tenth of a cold count.
//! Most text is made of chars that are NFC whatever surrounds them (quick
//! check "Yes" and combining class 0): a range test settles those, and any
//! other char sends the whole text to the library's check.

use unicode_normalization::{is_nfc_quick, IsNormalized};

/// Ranges of chars that are NFC in any context (tested against the library).
const ALWAYS_NFC: [(u32, u32); 10] = [
    (0x0000, 0x02FF), // Latin, IPA, spacing modifiers (combining marks start at U+0300)
    (0x0400, 0x0482), // Cyrillic letters (U+0483-0489 combine)
    (0x048A, 0x052F), // Cyrillic letters, supplement
    (0x2010, 0x2027), // dashes, quotes, ellipsis (U+2000-2001 are singletons)
    (0x3001, 0x3029), // CJK punctuation (U+302A-302F combine)
    (0x3041, 0x3096), // Hiragana (U+3099-309A combine)
    (0x30A1, 0x30FF), // Katakana, its middle dot and prolonged sound mark
    (0x4E00, 0x9FFF), // CJK unified ideographs
    (0xAC00, 0xD7A3), // Hangul syllables (a trailing jamo after one is not here)
    (0xFF01, 0xFF5E), // fullwidth ASCII
];

#[inline]
fn always_nfc(c: char) -> bool {
    let c = c as u32;
    c < 0x300 || ALWAYS_NFC.iter().any(|&(a, b)| a <= c && c <= b)
}

/// True when `text` is surely NFC (as `is_nfc_quick` answering Yes).
pub fn is_nfc(text: &str) -> bool {
    text.chars().all(always_nfc) || is_nfc_quick(text.chars()) == IsNormalized::Yes
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::char::canonical_combining_class;

    #[test]
    fn every_char_of_the_fast_ranges_is_nfc_in_any_context() {
        for &(a, b) in &ALWAYS_NFC {
            for c in (a..=b).filter_map(char::from_u32) {
                assert_eq!(canonical_combining_class(c), 0, "{c:?}");
                assert_eq!(is_nfc_quick(std::iter::once(c)), IsNormalized::Yes, "{c:?}");
            }
        }
    }

    #[test]
    fn texts_outside_the_ranges_still_get_the_full_check() {
        assert!(is_nfc(
            "Привет, мир! 你好，世界。カタカナ 한국어 “quoted” …"
        ));
        assert!(!is_nfc("Cafe\u{301}"));
        assert!(!is_nfc("\u{2000}")); // a singleton: NFC maps it to U+2002
        assert!(!is_nfc("\u{1100}\u{1161}")); // conjoining jamo compose
        assert!(is_nfc("\u{1F642} ok")); // outside the ranges, NFC all the same
    }
}
