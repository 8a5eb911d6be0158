//! JSON pieces of a call: where an object ends (resumable, for streaming) and
//! what a call object must hold.

use serde_json::{Map, Value};

use super::call::ToolCall;

pub(crate) enum Extent {
    /// The value ends just before this byte offset.
    Complete(usize),
    /// Brackets still open at the end of the text.
    Incomplete,
    /// A closing bracket does not match.
    Invalid,
}

/// Finds where the object starting at `start` ends, resuming where the last
/// call stopped when the text only grew: a call streamed in many small deltas
/// costs linear time overall, not quadratic.
#[derive(Debug, Default)]
pub(crate) struct JsonScan {
    start: Option<usize>,
    pos: usize,
    closers: Vec<u8>,
    in_str: bool,
    esc: bool,
    result: Option<Result<usize, ()>>,
}

impl JsonScan {
    /// Only bracket structure is checked here; `serde_json` validates the rest.
    pub(crate) fn extent(&mut self, text: &[u8], start: usize) -> Extent {
        if self.start != Some(start) || self.pos > text.len() {
            *self = Self {
                start: Some(start),
                pos: start,
                ..Self::default()
            };
        }
        if let Some(r) = self.result {
            return r.map_or(Extent::Invalid, Extent::Complete);
        }
        while let Some(&c) = text.get(self.pos) {
            self.pos += 1;
            if self.in_str {
                if self.esc {
                    self.esc = false;
                } else if c == b'\\' {
                    self.esc = true;
                } else if c == b'"' {
                    self.in_str = false;
                }
                continue;
            }
            match c {
                b'"' if !self.closers.is_empty() => self.in_str = true,
                b'{' => self.closers.push(b'}'),
                b'[' => self.closers.push(b']'),
                b'}' | b']' => {
                    if self.closers.pop() != Some(c) {
                        self.result = Some(Err(()));
                        return Extent::Invalid;
                    }
                    if self.closers.is_empty() {
                        self.result = Some(Ok(self.pos));
                        return Extent::Complete(self.pos);
                    }
                }
                _ if self.closers.is_empty() => {
                    // Not an object or array at `start`.
                    self.result = Some(Err(()));
                    return Extent::Invalid;
                }
                _ => {}
            }
        }
        Extent::Incomplete
    }
}

/// Keys a call object may carry across the three families' formats.
const CALL_KEYS: [&str; 5] = ["name", "arguments", "parameters", "id", "type"];

/// `{"name": ..., "arguments"|"parameters": {...}}` naming one of `names`.
pub(crate) fn call_from_json(text: &str, names: &[String]) -> Option<ToolCall> {
    let Value::Object(obj) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    if obj.keys().any(|k| !CALL_KEYS.contains(&k.as_str())) {
        return None; // some other JSON object that happens to have a "name"
    }
    if obj.get("type").is_some_and(|t| t != "function") {
        return None;
    }
    let name = obj.get("name")?.as_str()?;
    if !names.iter().any(|n| n == name) {
        return None;
    }
    let arguments = match (obj.get("arguments"), obj.get("parameters")) {
        (Some(a), None) | (None, Some(a)) => arguments_json(a)?,
        (None, None) => "{}".to_owned(),
        (Some(_), Some(_)) => return None,
    };
    Some(ToolCall {
        name: name.to_owned(),
        arguments,
    })
}

/// Arguments as the compact JSON text of an object. Accepts the object itself
/// or a string holding it (Mistral may write either); `null` means none.
pub(crate) fn arguments_json(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => serde_json::to_string(m).ok(),
        Value::Null => Some("{}".to_owned()),
        Value::String(s) => match serde_json::from_str::<Value>(s).ok()? {
            Value::Object(m) => serde_json::to_string(&m).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The arguments object of Llama's `<function=name>{...}</function>` form.
pub(crate) fn object_json(text: &str) -> Option<String> {
    serde_json::from_str::<Map<String, Value>>(text)
        .ok()
        .and_then(|m| serde_json::to_string(&m).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(s: &str) -> Option<usize> {
        match JsonScan::default().extent(s.as_bytes(), 0) {
            Extent::Complete(e) => Some(e),
            Extent::Incomplete => None,
            Extent::Invalid => Some(usize::MAX),
        }
    }

    #[test]
    fn extent_of_objects() {
        assert_eq!(ext(r#"{"a": "}{\"", "b": [1, {}]} tail"#), Some(27));
        assert_eq!(ext(r#"{"a": [1, 2"#), None);
        assert_eq!(ext(r#"{"a": ]"#), Some(usize::MAX));
        assert_eq!(ext("hello"), Some(usize::MAX));
    }

    #[test]
    fn extent_resumes_across_growth() {
        let full = r#"{"a": "x\"}", "b": {"c": [1]}}"#;
        let mut scan = JsonScan::default();
        for cut in 1..full.len() {
            assert!(
                matches!(scan.extent(&full.as_bytes()[..cut], 0), Extent::Incomplete),
                "{cut}"
            );
        }
        assert!(matches!(scan.extent(full.as_bytes(), 0), Extent::Complete(e) if e == full.len()));
    }

    #[test]
    fn call_objects() {
        let names = vec!["get_weather".to_owned()];
        let c = call_from_json(
            r#"{"name": "get_weather", "parameters": {"city": "Paris", "n": 2}}"#,
            &names,
        );
        assert_eq!(
            c.map(|c| c.arguments),
            Some(r#"{"city":"Paris","n":2}"#.to_owned())
        );
        let s = call_from_json(
            r#"{"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}"#,
            &names,
        );
        assert_eq!(
            s.map(|c| c.arguments),
            Some(r#"{"city":"Oslo"}"#.to_owned())
        );
        assert!(call_from_json(r#"{"name": "get_weather"}"#, &names).is_some());
        assert!(call_from_json(r#"{"name": "other", "arguments": {}}"#, &names).is_none());
        assert!(call_from_json(r#"{"name": "get_weather", "age": 3}"#, &names).is_none());
        assert!(call_from_json(r#"{"name": "get_weather", "arguments": [1]}"#, &names).is_none());
        assert!(
            call_from_json(r#"{"name": "get_weather", "arguments": "nope"}"#, &names).is_none()
        );
        assert!(call_from_json(r#"{"name": "get_weather", "type": "tool"}"#, &names).is_none());
        assert!(call_from_json(
            r#"{"name": "get_weather", "arguments": {}, "parameters": {}}"#,
            &names
        )
        .is_none());
    }
}
