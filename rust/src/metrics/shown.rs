//! Which series `render` shows: for a label (`model`, `worker`), the values that
//! still exist. A reload that removes a model leaves its series in the table
//! (slots are never freed, and other processes may hold their handles), but
//! Prometheus practice is to stop exporting a label set that no longer exists:
//! a dead worker's `up` gauge must not read 1 forever. A value that comes back
//! shows its series again, counters where they were (still monotonic).

use std::collections::{HashMap, HashSet};

use super::family::escape_into;

#[derive(Default)]
pub struct Shown {
    /// Label name -> its values as escaped in a series key.
    only: HashMap<String, HashSet<String>>,
}

impl Shown {
    /// Shows only series whose `label` is one of `values`; `None` shows them all again.
    pub fn set(&mut self, label: &str, values: Option<&[String]>) {
        match values {
            None => {
                self.only.remove(label);
            }
            Some(values) => {
                let escaped = values
                    .iter()
                    .map(|v| {
                        let mut out = String::with_capacity(v.len());
                        escape_into(&mut out, v, true);
                        out
                    })
                    .collect();
                self.only.insert(label.to_string(), escaped);
            }
        }
    }

    /// `labels` is a key's label text, `{a="x",b="y"}` or empty.
    pub fn shows(&self, labels: &str) -> bool {
        self.only
            .iter()
            .all(|(name, values)| label_value(labels, name).map_or(true, |v| values.contains(v)))
    }
}

/// The (still escaped) value of label `name` in `{a="x",b="y"}`.
fn label_value<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = labels.strip_prefix('{')?;
    loop {
        let eq = rest.find("=\"")?;
        let key = rest.get(..eq)?;
        let body = rest.get(eq + 2..)?;
        // the value ends at the first quote no backslash escapes
        let mut escaped = false;
        let end = body.bytes().position(|b| {
            let closes = b == b'"' && !escaped;
            escaped = b == b'\\' && !escaped;
            closes
        })?;
        if key == name {
            return body.get(..end);
        }
        rest = body.get(end + 1..)?.strip_prefix(',')?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_found_past_escapes() {
        let labels = r#"{a="x\"y\\",model="m,1",z="q"}"#;
        assert_eq!(label_value(labels, "a"), Some(r#"x\"y\\"#));
        assert_eq!(label_value(labels, "model"), Some("m,1"));
        assert_eq!(label_value(labels, "z"), Some("q"));
        assert_eq!(label_value(labels, "y"), None);
        assert_eq!(label_value("", "model"), None);
        assert_eq!(label_value(r#"{model="cut"#, "model"), None);
    }

    #[test]
    fn only_the_listed_values_show() {
        let mut shown = Shown::default();
        assert!(shown.shows(r#"{model="gone"}"#));
        shown.set("model", Some(&["m".to_string(), "q\"x".to_string()]));
        assert!(shown.shows(r#"{endpoint="chat",model="m"}"#));
        assert!(shown.shows(r#"{model="q\"x"}"#));
        assert!(!shown.shows(r#"{endpoint="chat",model="gone"}"#));
        assert!(
            shown.shows(r#"{level="key"}"#),
            "no model label: not filtered"
        );
        assert!(shown.shows(""));
        shown.set("model", None);
        assert!(shown.shows(r#"{model="gone"}"#));
    }
}
