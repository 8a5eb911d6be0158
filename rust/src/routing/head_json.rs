//! JSON text written byte for byte as msgspec writes it, for the routing prefix:
//! the hash of a conversation's head must not depend on whether the core or
//! Python's encoder wrote it (both feed `prefix_hash`, and every process must
//! send a conversation to the same worker).
//!
//! msgspec escapes `"`, `\` and the control characters below U+0020 (`\b`,
//! `\t`, `\n`, `\f`, `\r` short, the rest as `\u00xx` in lowercase hex) and
//! writes everything else as UTF-8, DEL and U+2028 included.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `s` as a JSON string, quotes included, appended to `out`.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => 0,
            _ => continue,
        };
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
}
