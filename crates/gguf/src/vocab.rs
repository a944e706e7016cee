//! Tokenizer metadata for GGUF from a Hugging Face `tokenizer.json`
//! (`tokenizer.ggml.*` keys), following gguf-py's `SpecialVocab` and
//! llama.cpp's converter for the two tokenizer kinds handled here:
//! byte-level BPE (`gpt2`) and WordPiece (`bert`, with llama.cpp's
//! "phantom space" token spelling).
//!
//! `tokenizer.ggml.pre` comes from the pre-tokenizer in tokenizer.json
//! (a ByteLevel pre-tokenizer with the GPT-2 split is `gpt-2`); llama.cpp
//! fingerprints known tokenizers instead, and refuses unknown ones.
//! SentencePiece (`llama`) vocabularies are not built yet: the conversion
//! says so.

use modelconv_core::{Error, Result};
use serde_json::Value as Json;

use crate::container::Value;

const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

fn content(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("content").and_then(Json::as_str).map(str::to_string),
        _ => None,
    }
}

fn strs(v: Vec<String>) -> Value {
    Value::Array(8, v.into_iter().map(Value::Str).collect())
}

/// The `tokenizer.*` metadata for `tokenizer` (parsed tokenizer.json), with
/// `tokenizer_config` and `config` (config.json) for special tokens, padded
/// to `vocab_size` entries.
pub fn metadata(
    tokenizer: &Json,
    tokenizer_config: Option<&Json>,
    config: &Json,
    vocab_size: usize,
) -> Result<Vec<(String, Value)>> {
    let model = tokenizer
        .get("model")
        .ok_or_else(|| Error::InvalidOption("tokenizer.json has no model".into()))?;
    let kind = model.get("type").and_then(Json::as_str).unwrap_or("");
    let vocab = model
        .get("vocab")
        .and_then(Json::as_object)
        .ok_or_else(|| Error::InvalidOption(format!("tokenizer.json {kind} model has no vocab")))?;
    let mut tokens: Vec<Option<String>> = vec![None; vocab_size];
    let mut types = vec![UNUSED; vocab_size];
    for (tok, id) in vocab {
        if let Some(i) = id.as_u64().map(|i| i as usize).filter(|&i| i < vocab_size) {
            tokens[i] = Some(tok.clone());
            types[i] = NORMAL;
        }
    }
    let added: Vec<&Json> = tokenizer
        .get("added_tokens")
        .and_then(Json::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for a in &added {
        let (Some(id), Some(c)) = (
            a.get("id").and_then(Json::as_u64),
            a.get("content").and_then(Json::as_str),
        ) else {
            continue;
        };
        let id = id as usize;
        if id < vocab_size {
            tokens[id] = Some(c.to_string());
            let special = a.get("special").and_then(Json::as_bool).unwrap_or(false);
            types[id] = if special { CONTROL } else { USER_DEFINED };
        }
    }
    // Special tokens are looked up by their tokenizer.json spelling.
    let raw_tokens = tokens.clone();
    let id_of = |t: &str| -> Option<u32> {
        raw_tokens
            .iter()
            .position(|x| x.as_deref() == Some(t))
            .map(|i| i as u32)
    };
    let mut out: Vec<(String, Value)> = Vec::new();
    let (ggml_model, pre) = match kind {
        "BPE" => {
            let byte_level = tokenizer.get("pre_tokenizer").is_some_and(|p| p.to_string().contains("ByteLevel"));
            if !byte_level {
                return Err(Error::InvalidOption(
                    "GGUF tokenizer: only byte-level BPE (gpt2) and WordPiece (bert) tokenizers are converted yet".into(),
                ));
            }
            let pre = if tokenizer.get("pre_tokenizer").is_some_and(|p| p.to_string().contains("\"Split\"")) {
                return Err(Error::InvalidOption(
                    "GGUF tokenizer: this BPE tokenizer splits with its own regex; recognising it (llama.cpp's tokenizer.ggml.pre) is not supported yet".into(),
                ));
            } else {
                "gpt-2"
            };
            ("gpt2", pre)
        }
        "WordPiece" => ("bert", "default"),
        other => {
            return Err(Error::InvalidOption(format!(
                "GGUF tokenizer: {other} tokenizers are not converted yet (byte-level BPE and WordPiece are)"
            )))
        }
    };
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let t = t.unwrap_or_else(|| format!("[PAD{i}]"));
            if ggml_model == "bert" && types[i] != CONTROL {
                // llama.cpp's WordPiece spelling: continuation pieces lose
                // "##", word starts gain the phantom space "▁".
                match t.strip_prefix("##") {
                    Some(rest) => rest.to_string(),
                    None => format!("\u{2581}{t}"),
                }
            } else {
                t
            }
        })
        .collect();
    out.push(("tokenizer.ggml.model".into(), Value::Str(ggml_model.into())));
    out.push(("tokenizer.ggml.pre".into(), Value::Str(pre.into())));
    if ggml_model == "bert" {
        let tv = config
            .get("type_vocab_size")
            .and_then(Json::as_u64)
            .unwrap_or(2);
        out.push((
            "tokenizer.ggml.token_type_count".into(),
            Value::U32(tv as u32),
        ));
    }
    out.push(("tokenizer.ggml.tokens".into(), strs(tokens.clone())));
    out.push((
        "tokenizer.ggml.token_type".into(),
        Value::Array(5, types.iter().map(|&t| Value::I32(t)).collect()),
    ));
    if ggml_model == "gpt2" {
        let merges: Vec<String> = model
            .get("merges")
            .and_then(Json::as_array)
            .map(|m| {
                m.iter()
                    .filter_map(|x| match x {
                        Json::String(s) => Some(s.clone()),
                        Json::Array(p) => {
                            let parts: Vec<String> = p
                                .iter()
                                .filter_map(Json::as_str)
                                .map(|s| {
                                    s.chars()
                                        .map(|c| if c == ' ' { '\u{120}' } else { c })
                                        .collect()
                                })
                                .collect();
                            Some(parts.join(" "))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(("tokenizer.ggml.merges".into(), strs(merges)));
    }
    // Special tokens: tokenizer_config.json names them, config.json has ids.
    let tc = |k: &str| content(tokenizer_config.and_then(|c| c.get(k)));
    for (typ, key) in [
        ("bos", "bos_token_id"),
        ("eos", "eos_token_id"),
        ("unknown", "unk_token_id"),
        ("seperator", "sep_token_id"),
        ("padding", "pad_token_id"),
        ("cls", "cls_token_id"),
        ("mask", "mask_token_id"),
    ] {
        let short = match typ {
            "unknown" => "unk",
            "seperator" => "sep",
            "padding" => "pad",
            t => t,
        };
        let id = tc(&format!("{short}_token"))
            .and_then(|t| id_of(&t))
            .or_else(|| config.get(key).and_then(Json::as_u64).map(|v| v as u32))
            .filter(|&i| (i as usize) < vocab_size);
        if let Some(id) = id {
            out.push((format!("tokenizer.ggml.{typ}_token_id"), Value::U32(id)));
        }
    }
    // add_bos / add_eos from the post-processor template, as SpecialVocab does.
    if let Some(single) = tokenizer
        .get("post_processor")
        .and_then(|p| {
            if p.get("type").and_then(Json::as_str) == Some("TemplateProcessing") {
                p.get("single")
            } else {
                None
            }
        })
        .and_then(Json::as_array)
    {
        let special = |j: Option<&Json>| {
            j.and_then(|x| x.get("SpecialToken"))
                .and_then(|s| s.get("id"))
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        let first = special(single.first());
        let last = if single.len() > 1 {
            special(single.last())
        } else {
            None
        };
        let bos = tc("bos_token").or_else(|| tc("cls_token"));
        let eos = tc("eos_token").or_else(|| tc("sep_token"));
        out.push((
            "tokenizer.ggml.add_bos_token".into(),
            Value::Bool(first.is_some() && first == bos),
        ));
        out.push((
            "tokenizer.ggml.add_eos_token".into(),
            Value::Bool(last.is_some() && last == eos),
        ));
    }
    if let Some(t) = tokenizer_config
        .and_then(|c| c.get("chat_template"))
        .and_then(Json::as_str)
    {
        out.push(("tokenizer.chat_template".into(), Value::Str(t.into())));
    }
    Ok(out)
}
