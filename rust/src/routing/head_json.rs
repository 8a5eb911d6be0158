//! JSON text written byte for byte as msgspec writes it, for the routing prefix:
//! the hash of a conversation's head must not depend on whether the core or
//! Python's encoder wrote it (both feed `prefix_hash`, and every process must
//! send a conversation to the same worker).
//!
//! msgspec escapes `"`, `\` and the control characters below U+0020 (`\b`,
//! `\t`, `\n`, `\f`, `\r` short, the rest as `\u00xx` in lowercase hex) and
//! writes everything else as UTF-8, DEL and U+2028 included.

use crate::swar;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The escape of byte `b`: its short form's letter, 0 for `\u00xx`, None for none.
fn escape(b: u8) -> Option<u8> {
    match b {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        0x08 => Some(b'b'),
        0x0c => Some(b'f'),
        0x00..=0x1f => Some(0),
        _ => None,
    }
}

/// The lanes of `w` that need an escape (below 0x20, `"` or `\`), the lowest one
/// exact (swar.rs): the usual text is skipped a word at a time.
fn needs_escape(w: u64) -> u64 {
    swar::below(w, 0x20) | swar::equal(w, b'"') | swar::equal(w, b'\\')
}

/// `s` as a JSON string, quotes included, appended to `out`.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(w) = swar::load(bytes, i) {
            let m = needs_escape(w);
            if m == 0 {
                i += 8;
                continue;
            }
            i += swar::first_lane(m); // the bytes before it are plain
        }
        let b = bytes[i];
        if let Some(short) = escape(b) {
            out.extend_from_slice(&bytes[start..i]);
            start = i + 1;
            if short != 0 {
                out.extend_from_slice(&[b'\\', short]);
            } else {
                let hex = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&hex);
            }
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::push_json_str;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        push_json_str(&mut out, s);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn plain_text_is_quoted_as_is() {
        assert_eq!(json(""), r#""""#);
        assert_eq!(json("héllo ✓ \u{7f}\u{2028}"), "\"héllo ✓ \u{7f}\u{2028}\"");
    }

    #[test]
    fn escapes_as_msgspec_does() {
        assert_eq!(json("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(json("\u{0}x\u{b}\u{1f}"), r#""\u0000x\u000b\u001f""#);
    }

    #[test]
    fn escapes_found_in_any_byte_of_a_word() {
        for at in 0..20 {
            for (c, want) in [
                ('"', "\\\""),
                ('\\', "\\\\"),
                ('\u{1}', "\\u0001"),
                (' ', " "),
            ] {
                let mut s = "abcdefghijklmnopqrst".to_string();
                s.replace_range(at..at + 1, &c.to_string());
                let mut expect = "abcdefghijklmnopqrst".to_string();
                expect.replace_range(at..at + 1, want);
                assert_eq!(json(&s), format!("\"{expect}\""));
            }
        }
    }
}
