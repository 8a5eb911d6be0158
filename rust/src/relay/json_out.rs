//! Writing JSON by hand into the output buffer: the stream chunks have a fixed
//! shape, so writing them directly skips building and dropping `Value` trees.

use serde::Serialize;

/// Append `s` as a JSON string literal.
pub(crate) fn str_lit(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Append an optional string: the literal, or `null`.
pub(crate) fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => str_lit(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Append a JSON value (`serde_json` cannot fail on a `Value` or `Map` into a `Vec`).
pub(crate) fn value<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

pub(crate) fn int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(n.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_round_trip() {
        for s in [
            "",
            "plain",
            "quote \" back \\ slash",
            "nl\nret\rtab\t",
            "\u{0}\u{1f}\u{7f}",
            "h\u{e9} \u{1F600}",
        ] {
            let mut out = Vec::new();
            str_lit(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap_or_default();
            assert_eq!(back, s);
            assert!(!out.contains(&b'\n'), "an SSE data line must not break");
        }
    }
}
