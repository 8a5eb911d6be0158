//! Whether a JSON text nests arrays and objects deeper than a limit: the
//! request decoder's guard (python/provocapi/json_depth.py), run on every body.
//!
//! Most bodies have a handful of brackets, fewer than the limit: one SIMD
//! search for `[` and `{` (stopping at `limit + 1` of them) answers no. Only a
//! body with more walks its text, skipping strings, which may hold brackets.
//! The text is one the decoder accepted, so its strings are terminated.

/// Whether `text` (valid JSON) nests more than `limit` levels, the outermost
/// array or object being level 1.
pub fn depth_exceeds(text: &[u8], limit: usize) -> bool {
    if memchr::memchr2_iter(b'[', b'{', text).nth(limit).is_none() {
        return false; // at most `limit` brackets open anything
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::depth_exceeds;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn the_limit_is_allowed_one_more_is_not() {
        assert!(!depth_exceeds(nested(64).as_bytes(), 64));
        assert!(depth_exceeds(nested(65).as_bytes(), 64));
        let obj = format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65));
        assert!(depth_exceeds(obj.as_bytes(), 64));
        assert!(!depth_exceeds(obj.as_bytes(), 65));
    }

    #[test]
    fn many_brackets_side_by_side_are_not_deep() {
        let wide = format!("[{}]", vec!["[{}]"; 500].join(","));
        assert!(!depth_exceeds(wide.as_bytes(), 3));
        assert!(depth_exceeds(wide.as_bytes(), 2));
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let s = format!(r#"{{"a":"{}","b":"\"[[[\\","c":[1]}}"#, "[{".repeat(200));
        assert!(!depth_exceeds(s.as_bytes(), 2));
        assert!(depth_exceeds(s.as_bytes(), 1));
    }

    #[test]
    fn no_brackets_and_empty_text() {
        assert!(!depth_exceeds(b"", 0));
        assert!(!depth_exceeds(b"\"x\"", 0));
        assert!(depth_exceeds(b"[]", 0));
    }
}
