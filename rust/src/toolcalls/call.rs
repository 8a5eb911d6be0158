//! The value every grammar produces: a leaf, so the grammars and the scanner
//! depend on it and on nothing above them.

/// One call: the function name and its arguments as a compact JSON object string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
}
