//! Each family's chat template, rendered into special tokens and text the
//! way the model's own template (the one trtllm-serve applies) lays them out.
//! Tool definitions are written as the family's template writes them; tool
//! calls in assistant messages arrive as their JSON text.

use crate::family::ChatFamily;
/// One chat message, borrowed (from the caller's Python strings: no copy).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub role: &'a str,
    pub content: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Special(&'static str),
    Text(String),
}

/// The prompt a chat request becomes, up to the open assistant turn.
pub fn render(family: ChatFamily, messages: &[Message<'_>], tools: &[&str]) -> Vec<Segment> {
    let mut out = Vec::new();
    match family {
        ChatFamily::Llama3 => llama3(messages, tools, &mut out),
        ChatFamily::Qwen2 => qwen2(messages, tools, &mut out),
        ChatFamily::Mistral => mistral(messages, tools, &mut out),
    }
    out
}

fn text(out: &mut Vec<Segment>, s: impl Into<String>) {
    let s = s.into();
    if s.is_empty() {
        return;
    }
    if let Some(Segment::Text(prev)) = out.last_mut() {
        prev.push_str(&s);
    } else {
        out.push(Segment::Text(s));
    }
}

fn special(out: &mut Vec<Segment>, s: &'static str) {
    out.push(Segment::Special(s));
}

const LLAMA_TOOLS_INTRO: &str = "Given the following functions, please respond with a JSON for a \
function call with its proper arguments that best answers the given prompt.\n\nRespond in the format \
{\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use \
variables.\n\n";

fn llama3(messages: &[Message<'_>], tools: &[&str], out: &mut Vec<Segment>) {
    special(out, "<|begin_of_text|>");
    let (system, rest) = match messages.first() {
        Some(m) if m.role == "system" => (m.content.trim(), &messages[1..]),
        _ => ("", messages),
    };
    special(out, "<|start_header_id|>");
    text(out, "system");
    special(out, "<|end_header_id|>");
    let env = if tools.is_empty() {
        ""
    } else {
        "Environment: ipython\n"
    };
    text(
        out,
        format!(
            "\n\n{env}Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n{system}"
        ),
    );
    special(out, "<|eot_id|>");
    let mut tools_pending = !tools.is_empty();
    for m in rest {
        let role = if m.role == "tool" { "ipython" } else { m.role };
        special(out, "<|start_header_id|>");
        text(out, role);
        special(out, "<|end_header_id|>");
        let mut body = String::from("\n\n");
        if tools_pending && m.role == "user" {
            tools_pending = false;
            body.push_str(LLAMA_TOOLS_INTRO);
            for t in tools {
                body.push_str(t);
                body.push_str("\n\n");
            }
        }
        body.push_str(m.content.trim());
        text(out, body);
        special(out, "<|eot_id|>");
    }
    special(out, "<|start_header_id|>");
    text(out, "assistant");
    special(out, "<|end_header_id|>");
    text(out, "\n\n");
}

const QWEN_DEFAULT_SYSTEM: &str =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
const QWEN_TOOLS_INTRO: &str = "\n\n# Tools\n\nYou may call one or more functions to assist with \
the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>";
const QWEN_TOOLS_OUTRO: &str = "\n</tools>\n\nFor each function call, return a json object with \
function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": \
<function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

fn qwen2(messages: &[Message<'_>], tools: &[&str], out: &mut Vec<Segment>) {
    let (system, rest) = match messages.first() {
        Some(m) if m.role == "system" => (m.content, &messages[1..]),
        _ => (QWEN_DEFAULT_SYSTEM, messages),
    };
    special(out, "<|im_start|>");
    let mut sys = format!("system\n{system}");
    if !tools.is_empty() {
        sys.push_str(QWEN_TOOLS_INTRO);
        for t in tools {
            sys.push('\n');
            sys.push_str(t);
        }
        sys.push_str(QWEN_TOOLS_OUTRO);
    }
    // `<tool_call>` in the text is an added token: the vocabulary splits it out.
    text(out, sys);
    special(out, "<|im_end|>");
    text(out, "\n");
    for m in rest {
        special(out, "<|im_start|>");
        if m.role == "tool" {
            text(
                out,
                format!("user\n<tool_response>\n{}\n</tool_response>", m.content),
            );
        } else {
            text(out, format!("{}\n{}", m.role, m.content));
        }
        special(out, "<|im_end|>");
        text(out, "\n");
    }
    special(out, "<|im_start|>");
    text(out, "assistant\n");
}

fn mistral(messages: &[Message<'_>], tools: &[&str], out: &mut Vec<Segment>) {
    special(out, "<s>");
    let last_user = messages.iter().rposition(|m| m.role == "user");
    for (i, m) in messages.iter().enumerate() {
        match m.role {
            "system" => {
                special(out, "[SYSTEM_PROMPT]");
                text(out, m.content);
                special(out, "[/SYSTEM_PROMPT]");
            }
            "assistant" => {
                text(out, m.content);
                special(out, "</s>");
            }
            "tool" => {
                special(out, "[TOOL_RESULTS]");
                text(out, m.content);
                special(out, "[/TOOL_RESULTS]");
            }
            _ => {
                if Some(i) == last_user && !tools.is_empty() {
                    special(out, "[AVAILABLE_TOOLS]");
                    text(out, format!("[{}]", tools.join(", ")));
                    special(out, "[/AVAILABLE_TOOLS]");
                }
                special(out, "[INST]");
                text(out, m.content);
                special(out, "[/INST]");
            }
        }
    }
}
