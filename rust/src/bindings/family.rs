//! A family name from Python → the core's `ChatFamily`, or a `CoreError`
//! naming the argument (one helper for the relay's and the tokenizer's).

use pyo3::prelude::*;

use super::errors::CoreError;
use crate::family::ChatFamily;

pub(super) fn chat_family(argument: &str, name: &str) -> PyResult<ChatFamily> {
    ChatFamily::from_name(name).ok_or_else(|| {
        CoreError::new_err(format!(
            "{argument} must be 'llama3', 'qwen2' or 'mistral', not {name:?}"
        ))
    })
}
