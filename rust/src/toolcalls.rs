//! Tool calls that reach us as plain text.
//!
//! trtllm-serve parses calls only with a `--tool_parser`, and has none for
//! Llama 3.1 or Mistral, so their calls arrive as message content. Given the
//! model family and the request's tool names, we recognise the family's call
//! format (from its published chat template) and turn it into OpenAI
//! `tool_calls`. A text is a call only when every name is one of the tools;
//! otherwise it stays content.
//!
//! One grammar per family (`llama3`, `qwen2`, `mistral`) written over a
//! prefix-aware scanner (`scan`), chosen in one place (`grammar`), so the same code answers "is this a call?"
//! for a whole body and "could this still become a call?" while streaming
//! (`stream::Detector`).

mod call;
mod grammar;
mod json;
mod llama3;
mod mistral;
mod qwen2;
mod scan;
mod stream;

pub use crate::family::ChatFamily;
pub use call::ToolCall;
pub use stream::{Detector, Piece};

/// A whole message recognised as calls, with the prose before them (Qwen, Mistral).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub content: Option<String>,
    pub calls: Vec<ToolCall>,
}

/// Parse a complete message; `None` when it is not (entirely) tool calls.
pub fn parse(family: ChatFamily, text: &str, names: &[String]) -> Option<Parsed> {
    let mut json = json::JsonScan::default();
    let mut cx = scan::Cx {
        text,
        names,
        fin: true,
        json: &mut json,
    };
    let s = grammar::scan(family, &mut cx, scan::At::Begin);
    if s.rest_is_content || s.calls.is_empty() {
        return None;
    }
    let content = text
        .get(..s.content_end)
        .map(str::trim_end)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Some(Parsed {
        content,
        calls: s.calls,
    })
}

const ALPHANUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Mistral's chat templates accept only ids of exactly this many alphanumerics.
pub const MISTRAL_ID_LEN: usize = 9;

/// FNV-1a over the seed, then the position mixed in: the state ids are drawn from.
fn id_state(seed: &str, choice: u32, k: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in seed.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (u64::from(choice) << 32 | u64::from(k)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `n` alphanumerics from `h`, splitmix64 spreading the bits, eight per round
/// (62^8 < 2^48: eight digits use only well-mixed bits).
fn push_alphanumerics(mut h: u64, n: usize, id: &mut String) {
    let mut left = n;
    while left > 0 {
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        for _ in 0..left.min(8) {
            let d = (z % 62) as usize;
            id.push(char::from(ALPHANUM.get(d).copied().unwrap_or(b'0')));
            z /= 62;
        }
        left = left.saturating_sub(8);
    }
}

/// `call_` + 24 alphanumerics, derived from the response id, the choice and the
/// call's position: deterministic (replays and tests agree) and unique per call.
pub fn call_id(seed: &str, choice: u32, k: u32) -> String {
    let mut id = String::with_capacity(29);
    id.push_str("call_");
    push_alphanumerics(id_state(seed, choice, k), 24, &mut id);
    id
}

/// The id a call of this family gets: 9 alphanumerics for Mistral (its chat
/// template raises on any other id when the history comes back), else `call_id`.
pub fn call_id_for(family: Option<ChatFamily>, seed: &str, choice: u32, k: u32) -> String {
    if family != Some(ChatFamily::Mistral) {
        return call_id(seed, choice, k);
    }
    let mut id = String::with_capacity(MISTRAL_ID_LEN);
    push_alphanumerics(id_state(seed, choice, k), MISTRAL_ID_LEN, &mut id);
    id
}

/// Whether a worker's own id may be relayed as is to a client of this family.
pub fn id_fits(family: Option<ChatFamily>, id: &str) -> bool {
    !id.is_empty()
        && (family != Some(ChatFamily::Mistral)
            || (id.len() == MISTRAL_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_have_openai_shape_and_differ() {
        let a = call_id("chatcmpl-1", 0, 0);
        assert_eq!(a.len(), 29);
        assert!(a.starts_with("call_"));
        assert!(a[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(a, call_id("chatcmpl-1", 0, 0));
        let mut all: Vec<String> = (0..4)
            .flat_map(|c| (0..50).map(move |k| call_id("chatcmpl-1", c, k)))
            .chain((0..50).map(|k| call_id("chatcmpl-2", 0, k)))
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn mistral_ids_are_nine_alphanumerics_and_differ() {
        let m = Some(ChatFamily::Mistral);
        let a = call_id_for(m, "chatcmpl-1", 0, 0);
        assert_eq!(a.len(), 9);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(id_fits(m, &a));
        assert!(!id_fits(m, &call_id("chatcmpl-1", 0, 0)));
        assert!(!id_fits(m, "abc-defgh"));
        assert_eq!(a, call_id_for(m, "chatcmpl-1", 0, 0));
        assert_eq!(
            call_id_for(Some(ChatFamily::Llama3), "x", 1, 2),
            call_id("x", 1, 2)
        );
        let mut all: Vec<String> = (0..4)
            .flat_map(|c| (0..50).map(move |k| call_id_for(m, "chatcmpl-1", c, k)))
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
