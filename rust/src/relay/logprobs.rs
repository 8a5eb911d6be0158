//! A chat choice's `logprobs` in OpenAI's shape.
//!
//! trtllm-serve sends `{"content": [...]}` with no `refusal`, and each token's
//! `top_logprobs` is null (non-streamed) or absent (streamed) unless asked for,
//! with a nested `"top_logprobs": null` in every alternative. OpenAI's schema
//! requires `content` and `refusal`, and an array of `{token, logprob, bytes}`
//! alternatives per token. The values themselves pass unchanged. Completions'
//! legacy logprobs already match and are not touched.

use serde_json::{Map, Value};

/// The worker's chat `logprobs` (not null) reshaped; anything that is not an
/// object passes as is.
pub(crate) fn chat(v: Value) -> Value {
    let Value::Object(mut m) = v else {
        return v;
    };
    let content = match m.remove("content") {
        Some(Value::Array(tokens)) => Value::Array(tokens.into_iter().map(token).collect()),
        _ => Value::Null,
    };
    let refusal = m.remove("refusal").unwrap_or(Value::Null);
    let mut out = Map::with_capacity(2);
    out.insert("content".into(), content);
    out.insert("refusal".into(), refusal);
    Value::Object(out)
}

fn token(v: Value) -> Value {
    let Value::Object(mut m) = v else {
        return v;
    };
    let tops = match m.remove("top_logprobs") {
        Some(Value::Array(list)) => list.into_iter().map(alternative).collect(),
        _ => Vec::new(),
    };
    let mut out = alternative(Value::Object(m));
    if let Value::Object(o) = &mut out {
        o.insert("top_logprobs".into(), Value::Array(tops));
    }
    out
}

/// `{token, logprob, bytes}` and nothing else.
fn alternative(v: Value) -> Value {
    let Value::Object(mut m) = v else {
        return v;
    };
    let mut out = Map::with_capacity(4);
    for key in ["token", "logprob", "bytes"] {
        out.insert(key.into(), m.remove(key).unwrap_or(Value::Null));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_streamed_nulls_become_openai_shapes() {
        let trt = json!({"content": [
            {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": null},
        ]});
        assert_eq!(
            chat(trt),
            json!({"content": [
                {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []},
            ], "refusal": null})
        );
    }

    #[test]
    fn alternatives_lose_their_nested_null_and_keep_values() {
        let trt = json!({"content": [{"token": "a", "logprob": -1.0, "bytes": [97],
        "top_logprobs": [
            {"token": "a", "logprob": -1.0, "bytes": [97], "top_logprobs": null},
            {"token": "b", "logprob": -2.5, "bytes": [98], "top_logprobs": null},
        ]}]});
        let out = chat(trt);
        assert_eq!(
            out["content"][0]["top_logprobs"],
            json!([
                {"token": "a", "logprob": -1.0, "bytes": [97]},
                {"token": "b", "logprob": -2.5, "bytes": [98]},
            ])
        );
    }

    #[test]
    fn streamed_entries_without_top_get_an_empty_list() {
        let trt = json!({"content": [{"token": " x", "logprob": -0.1, "bytes": [32, 120]}]});
        assert_eq!(chat(trt)["content"][0]["top_logprobs"], json!([]));
    }

    #[test]
    fn odd_shapes_pass() {
        assert_eq!(chat(json!("x")), json!("x"));
        assert_eq!(chat(json!({})), json!({"content": null, "refusal": null}));
        assert_eq!(chat(json!({"content": [1]}))["content"], json!([1]));
    }
}
