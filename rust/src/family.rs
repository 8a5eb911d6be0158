//! The chat model families the core knows: one enum for the chat templates
//! (token counting) and the tool-call grammars, so the two cannot disagree
//! on which families exist or what they are called.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatFamily {
    /// Llama 3.1 instruct.
    Llama3,
    /// Qwen 2.5 instruct (ChatML).
    Qwen2,
    /// Mistral Small 3 (Tekken, instruct v7).
    Mistral,
}

impl ChatFamily {
    /// The config's `family` names: "llama3", "qwen2", "mistral".
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "llama3" => Some(Self::Llama3),
            "qwen2" => Some(Self::Qwen2),
            "mistral" => Some(Self::Mistral),
            _ => None,
        }
    }
}
