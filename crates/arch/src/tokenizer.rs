//! Tokenizer export: a `tokenizer.json` (the Hugging Face `tokenizers`
//! format) for sources that only have the slow tokenizer's files.
//!
//! WordPiece (`vocab.txt`, BERT) is rebuilt exactly as transformers'
//! `BertConverter` does: BertNormalizer (clean text, CJK spacing,
//! lower-casing and accent stripping as `tokenizer_config.json` says),
//! BertPreTokenizer, the WordPiece model with `##` continuation, and the
//! `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` template. The JSON is written
//! directly (it is a stable, documented format); tests load it with the
//! `tokenizers` crate and compare ids with the source tokenizer's.
//!
//! SentencePiece models (`tokenizer.model`) are not rebuilt yet: they are
//! carried unchanged and [`sentencepiece_note`] says so.

use modelconv_core::{Error, Result};
use serde_json::{json, Map, Value};

/// Builds `tokenizer.json` for a BERT WordPiece vocabulary.
///
/// `vocab` is the text of `vocab.txt` (one token per line, id = line
/// number); `tokenizer_config` the parsed `tokenizer_config.json`, if any
/// (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`, special
/// tokens, `model_max_length`).
pub fn wordpiece_from_vocab(vocab: &str, tokenizer_config: Option<&Value>) -> Result<Vec<u8>> {
    let mut ids: Map<String, Value> = Map::new();
    let mut order: Vec<&str> = Vec::new();
    for (i, line) in vocab.lines().enumerate() {
        // transformers keeps the line minus its trailing newline; duplicate
        // tokens keep the last id, as `load_vocab` does.
        let token = line.strip_suffix('\r').unwrap_or(line);
        ids.insert(token.to_string(), json!(i));
        order.push(token);
    }
    if ids.is_empty() {
        return Err(Error::InvalidOption("vocab.txt is empty".into()));
    }
    let cfg = |k: &str| {
        tokenizer_config
            .and_then(|c| c.get(k))
            .filter(|v| !v.is_null())
    };
    let special = |k: &str, default: &str| -> String {
        match cfg(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_string(),
            _ => default.to_string(),
        }
    };
    let lower = cfg("do_lower_case")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let strip_accents = cfg("strip_accents").cloned().unwrap_or(Value::Null);
    let chinese = cfg("tokenize_chinese_chars")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let (cls, sep, unk, pad, mask) = (
        special("cls_token", "[CLS]"),
        special("sep_token", "[SEP]"),
        special("unk_token", "[UNK]"),
        special("pad_token", "[PAD]"),
        special("mask_token", "[MASK]"),
    );
    let id_of = |t: &str| -> Result<u64> {
        ids.get(t)
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::InvalidOption(format!("vocab.txt has no special token '{t}'")))
    };
    let (cls_id, sep_id) = (id_of(&cls)?, id_of(&sep)?);
    id_of(&unk)?;
    // Special tokens present in the vocabulary become added tokens, in id order.
    let mut added: Vec<(u64, &str)> = [&pad, &unk, &cls, &sep, &mask]
        .iter()
        .filter_map(|t| {
            ids.get(t.as_str())
                .and_then(Value::as_u64)
                .map(|i| (i, t.as_str()))
        })
        .collect();
    added.sort();
    added.dedup();
    let added_tokens: Vec<Value> = added
        .iter()
        .map(|(id, t)| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tok = |t: &str, type_id: u32| json!({"SpecialToken": {"id": t, "type_id": type_id}});
    let seq = |s: &str, type_id: u32| json!({"Sequence": {"id": s, "type_id": type_id}});
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": {
            "type": "BertNormalizer",
            "clean_text": true,
            "handle_chinese_chars": chinese,
            "strip_accents": strip_accents,
            "lowercase": lower
        },
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok(&cls, 0), seq("A", 0), tok(&sep, 0)],
            "pair": [tok(&cls, 0), seq("A", 0), tok(&sep, 0), seq("B", 1), tok(&sep, 1)],
            "special_tokens": {
                cls.clone(): {"id": cls, "ids": [cls_id], "tokens": [cls]},
                sep.clone(): {"id": sep, "ids": [sep_id], "tokens": [sep]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {
            "type": "WordPiece",
            "unk_token": unk,
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": Value::Object(ids)
        }
    });
    let mut text = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?;
    text.push(b'\n');
    Ok(text)
}

/// Why a SentencePiece-only tokenizer is carried as is.
pub fn sentencepiece_note(file: &str) -> String {
    format!(
        "{file} (SentencePiece) is carried unchanged; building tokenizer.json from a SentencePiece model is not supported yet (load it with transformers' LlamaTokenizer / convert_slow_tokenizer)"
    )
}
