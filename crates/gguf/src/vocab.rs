//! Tokenizer metadata for GGUF from a Hugging Face `tokenizer.json`
//! (`tokenizer.ggml.*` keys), following gguf-py's `SpecialVocab` and
//! llama.cpp's converter for the tokenizer kinds handled here:
//! byte-level BPE (`gpt2`), WordPiece (`bert`, with llama.cpp's
//! "phantom space" token spelling) and SentencePiece (`llama`).
//!
//! `tokenizer.ggml.pre` (how llama.cpp splits text before BPE) is found as
//! llama.cpp's converter finds it: the caller tokenizes llama.cpp's check
//! text ([`PRE_CHECK_TEXT`]) with the real tokenizer and passes the
//! [`fingerprint`] of the ids, which is looked up in llama.cpp's table
//! (`pre_fingerprints.tsv`, extracted by `make_pre_table.py`). Unknown
//! fingerprints fall back to the pre-tokenizer itself: the GPT-2 ByteLevel
//! split is `gpt-2`, the LLaMA-3 and Qwen2 split regexes are `llama-bpe`
//! and `qwen2`; anything else is refused rather than tokenized wrongly.
//! SentencePiece (`llama`) vocabularies come from `tokenizer.model`
//! ([`metadata_spm`], parsed by [`crate::spm`]) as llama.cpp's converter
//! builds them. [`hf_tokenizer`] goes back to `tokenizer.json`.

use modelconv_core::{Error, Result};
use serde_json::Value as Json;

use crate::container::Value;

/// llama.cpp's tokenizer check text (`chktxt`).
pub const PRE_CHECK_TEXT: &str = include_str!("pre_check_text.txt");

const PRE_FINGERPRINTS: &str = include_str!("pre_fingerprints.tsv");

/// The fingerprint llama.cpp's converter computes: sha256 of the ids of
/// [`PRE_CHECK_TEXT`] printed as a Python list (`[1, 2, 3]`).
pub fn fingerprint(ids: &[u32]) -> String {
    use sha2::{Digest, Sha256};
    let list = ids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    modelconv_core::checksum::hex(&Sha256::digest(format!("[{list}]").as_bytes()))
}

/// The `tokenizer.ggml.pre` name llama.cpp knows for a fingerprint.
pub fn pre_for_fingerprint(fp: &str) -> Option<&'static str> {
    PRE_FINGERPRINTS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .find(|(h, _)| *h == fp)
        .map(|(_, name)| name)
}

/// Split regexes of tokenizer.json that identify a llama.cpp pre-tokenizer
/// (the originals llama.cpp quotes next to its adapted versions).
const KNOWN_SPLITS: &[(&str, &str)] = &[
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "llama-bpe",
    ),
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "qwen2",
    ),
];

fn split_regex(p: &Json) -> Option<String> {
    if p.get("type").and_then(Json::as_str) == Some("Split") {
        return p
            .get("pattern")
            .and_then(|x| x.get("Regex"))
            .and_then(Json::as_str)
            .map(str::to_string);
    }
    p.get("pretokenizers")
        .and_then(Json::as_array)
        .and_then(|a| a.iter().find_map(split_regex))
}

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
    Value::Strings(v.into_iter().collect())
}

/// The `tokenizer.*` metadata for `tokenizer` (parsed tokenizer.json), with
/// `tokenizer_config` and `config` (config.json) for special tokens, padded
/// to `vocab_size` entries. `fingerprint`: see the module docs. Returns the
/// metadata and how `tokenizer.ggml.pre` was chosen.
pub fn metadata(
    tokenizer: &Json,
    tokenizer_config: Option<&Json>,
    config: &Json,
    vocab_size: usize,
    fingerprint: Option<&str>,
) -> Result<(Vec<(String, Value)>, String)> {
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
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut how = String::new();
    let (ggml_model, pre) = match kind {
        "BPE" => {
            let byte_level = tokenizer.get("pre_tokenizer").is_some_and(|p| p.to_string().contains("ByteLevel"));
            if !byte_level {
                return Err(Error::InvalidOption(
                    "GGUF tokenizer: only byte-level BPE (gpt2) and WordPiece (bert) tokenizers are converted yet".into(),
                ));
            }
            let known = fingerprint.and_then(|f| pre_for_fingerprint(f).map(|p| (f, p)));
            let split = tokenizer.get("pre_tokenizer").and_then(split_regex);
            let pre = match (known, split) {
                (Some((f, p)), _) => {
                    how = format!("tokenizer.ggml.pre '{p}': llama.cpp's fingerprint {f}");
                    p
                }
                (None, Some(re)) => {
                    let p = KNOWN_SPLITS.iter().find(|(r, _)| *r == re).map(|(_, p)| *p).ok_or_else(|| {
                        Error::InvalidOption(format!(
                            "GGUF tokenizer: llama.cpp does not know this BPE tokenizer (fingerprint {}) and its split regex is not one modelconv maps; refusing rather than tokenizing wrongly",
                            fingerprint.unwrap_or("not computed")
                        ))
                    })?;
                    how = format!(
                        "tokenizer.ggml.pre '{p}': fingerprint {} unknown to llama.cpp, split regex recognised",
                        fingerprint.unwrap_or("not computed")
                    );
                    p
                }
                (None, None) => {
                    how = format!(
                        "tokenizer.ggml.pre 'gpt-2': fingerprint {} unknown to llama.cpp, plain ByteLevel pre-tokenizer",
                        fingerprint.unwrap_or("not computed")
                    );
                    "gpt-2"
                }
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
    specials(
        &mut out,
        &raw_tokens,
        Some(tokenizer),
        tokenizer_config,
        config,
        vocab_size,
    );
    Ok((out, how))
}

/// Special token ids, add_bos/add_eos and the chat template, as gguf-py's
/// `SpecialVocab` finds them: tokenizer_config.json names the tokens
/// (looked up in `raw_tokens`), config.json has ids, the tokenizer.json
/// post-processor (when there is one) says what is added.
fn specials(
    out: &mut Vec<(String, Value)>,
    raw_tokens: &[Option<String>],
    tokenizer: Option<&Json>,
    tokenizer_config: Option<&Json>,
    config: &Json,
    vocab_size: usize,
) {
    let id_of = |t: &str| -> Option<u32> {
        raw_tokens
            .iter()
            .position(|x| x.as_deref() == Some(t))
            .map(|i| i as u32)
    };
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
    let mut post_processor = false;
    if let Some(single) = tokenizer
        .and_then(|t| t.get("post_processor"))
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
        post_processor = true;
    }
    if !post_processor {
        // No tokenizer.json template: tokenizer_config.json's flags.
        for (k, key) in [("bos", "add_bos_token"), ("eos", "add_eos_token")] {
            if let Some(b) = tokenizer_config
                .and_then(|c| c.get(key))
                .and_then(Json::as_bool)
            {
                out.push((format!("tokenizer.ggml.add_{k}_token"), Value::Bool(b)));
            }
        }
    }
    if let Some(t) = tokenizer_config
        .and_then(|c| c.get("chat_template"))
        .and_then(Json::as_str)
    {
        out.push(("tokenizer.chat_template".into(), Value::Str(t.into())));
    }
}

/// The `tokenizer.*` metadata for a SentencePiece model (`tokenizer.model`
/// bytes), as llama.cpp's converter builds its `llama` vocabulary: pieces
/// with scores and types (user-defined pieces count as normal, as there),
/// added tokens from tokenizer_config.json's `added_tokens_decoder`, padding
/// to `vocab_size` with `[PADi]`, then the special tokens.
pub fn metadata_spm(
    model: &[u8],
    tokenizer: Option<&Json>,
    tokenizer_config: Option<&Json>,
    config: &Json,
    vocab_size: usize,
) -> Result<Vec<(String, Value)>> {
    let pieces = crate::spm::pieces(model)?;
    let n = if vocab_size == 0 {
        pieces.len()
    } else {
        vocab_size
    };
    let mut tokens: Vec<String> = (0..n).map(|i| format!("[PAD{i}]")).collect();
    let mut scores = vec![-10000.0f32; n];
    let mut types = vec![UNUSED; n];
    for (i, p) in pieces.iter().enumerate().take(n) {
        tokens[i] = p.piece.clone();
        scores[i] = p.score;
        types[i] = match p.kind {
            2 => 2,
            3 => CONTROL,
            5 => UNUSED,
            6 => 6,
            _ => NORMAL,
        };
    }
    if let Some(added) = tokenizer_config
        .and_then(|c| c.get("added_tokens_decoder"))
        .and_then(Json::as_object)
    {
        for (id, data) in added {
            let (Ok(id), Some(content)) = (
                id.parse::<usize>(),
                data.get("content").and_then(Json::as_str),
            ) else {
                continue;
            };
            if id >= n {
                continue;
            }
            let special = data.get("special").and_then(Json::as_bool).unwrap_or(false)
                || (content.starts_with("<|") && content.ends_with("|>"))
                || ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(&content);
            if special {
                types[id] = CONTROL;
                tokens[id] = content.to_string();
            } else {
                types[id] = USER_DEFINED;
                tokens[id] = content.replace('\u{2581}', " ");
            }
            scores[id] = -1000.0;
        }
    }
    let raw: Vec<Option<String>> = tokens.iter().cloned().map(Some).collect();
    let mut out: Vec<(String, Value)> = vec![
        ("tokenizer.ggml.model".into(), Value::Str("llama".into())),
        ("tokenizer.ggml.pre".into(), Value::Str("default".into())),
        ("tokenizer.ggml.tokens".into(), strs(tokens)),
        (
            "tokenizer.ggml.scores".into(),
            Value::Array(6, scores.into_iter().map(Value::F32).collect()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(5, types.into_iter().map(Value::I32).collect()),
        ),
    ];
    specials(&mut out, &raw, tokenizer, tokenizer_config, config, n);
    Ok(out)
}

/// Largest vocabulary rebuilt as `tokenizer.json` (building one costs
/// about 200 bytes per token).
const MAX_REBUILT_TOKENS: usize = 1 << 20;

/// Longest piece whose merges are recovered (SentencePiece pieces are
/// short; the longest in common vocabularies is under 64 bytes).
const MAX_MERGE_PIECE: usize = 256;

/// Whether [`hf_tokenizer`] can rebuild the tokenizer of `file`, checked
/// without building it: `Ok(false)` when there is no tokenizer, an error
/// naming what is not supported (an unknown `tokenizer.ggml.pre`).
pub fn can_rebuild(file: &crate::container::GgufFile) -> Result<bool> {
    let Some(model) = file.get("tokenizer.ggml.model").and_then(Value::as_str) else {
        return Ok(false);
    };
    let tokens = file
        .get("tokenizer.ggml.tokens")
        .and_then(Value::array_len)
        .unwrap_or(0);
    if tokens > MAX_REBUILT_TOKENS {
        return Err(Error::InvalidOption(format!(
            "tokenizer.ggml.tokens holds {tokens} tokens, more than the {MAX_REBUILT_TOKENS} a rebuilt tokenizer.json may hold (real vocabularies have under 300 000); the GGUF tokenizer was not converted"
        )));
    }
    if model == "gpt2" {
        let pre = file
            .get("tokenizer.ggml.pre")
            .and_then(Value::as_str)
            .unwrap_or("gpt-2");
        let known =
            KNOWN_SPLITS.iter().any(|(_, p)| *p == pre) || pre == "gpt-2" || pre == "default";
        if !known {
            return Err(Error::InvalidOption(format!(
                "tokenizer.ggml.pre '{pre}': rebuilding its tokenizer.json is not supported (gpt-2, llama-bpe and qwen2 are); the GGUF tokenizer was not converted"
            )));
        }
    }
    Ok(matches!(model, "gpt2" | "bert" | "llama"))
}

/// A GGUF's rebuilt `tokenizer.json` (`config = false`) or
/// `tokenizer_config.json` (`config = true`), built only when an output
/// carries it: a vocabulary of millions of tokens is never turned into JSON
/// just to inspect or compare the file.
#[derive(Debug)]
pub struct DeferredTokenizer {
    /// The GGUF source.
    pub file: std::sync::Arc<crate::GgufSource>,
    /// Which of the two files.
    pub config: bool,
}

impl modelconv_core::model::DeferredFile for DeferredTokenizer {
    fn build(&self) -> Result<Vec<u8>> {
        let (tokenizer, config) = hf_tokenizer(&self.file.file)?
            .ok_or_else(|| Error::Internal("deferred GGUF tokenizer without a tokenizer".into()))?;
        Ok(if self.config { config } else { tokenizer })
    }

    fn identity(&self) -> String {
        format!(
            "gguf-tokenizer {} {} {}",
            self.file.file.map.identity(),
            self.config,
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// A GGUF vocabulary as the tokenizer builders read it.
struct GgufVocab<'a> {
    file: &'a crate::container::GgufFile,
    tokens: Vec<String>,
    types: Vec<i64>,
}

impl<'a> GgufVocab<'a> {
    fn new(file: &'a crate::container::GgufFile) -> Self {
        let mut v = GgufVocab {
            file,
            tokens: Vec::new(),
            types: Vec::new(),
        };
        v.tokens = v.strings("tokenizer.ggml.tokens");
        v.types = match file.get("tokenizer.ggml.token_type") {
            Some(Value::Array(_, t)) => t
                .iter()
                .map(|x| match x {
                    Value::I32(i) => i64::from(*i),
                    other => other.as_u64().map_or(NORMAL.into(), |u| u as i64),
                })
                .collect(),
            _ => vec![i64::from(NORMAL); v.tokens.len()],
        };
        v
    }

    /// A string array of the metadata (empty if absent).
    fn strings(&self, key: &str) -> Vec<String> {
        match self.file.get(key) {
            Some(Value::Strings(v)) => v.iter().map(str::to_string).collect(),
            Some(Value::Array(_, v)) => v
                .iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Token type of id `i`.
    fn ty(&self, i: usize) -> i64 {
        self.types.get(i).copied().unwrap_or(i64::from(NORMAL))
    }

    /// `tokenizer.ggml.{k}_token_id`.
    fn special_id(&self, k: &str) -> Option<usize> {
        self.file
            .get(&format!("tokenizer.ggml.{k}_token_id"))
            .and_then(Value::as_u64)
            .map(|i| i as usize)
    }

    fn token_of(&self, i: Option<usize>) -> Option<String> {
        i.and_then(|i| self.tokens.get(i)).cloned()
    }

    /// `tokenizer.ggml.{k}` is `true`.
    fn flag(&self, k: &str) -> bool {
        matches!(
            self.file.get(&format!("tokenizer.ggml.{k}")),
            Some(Value::Bool(true))
        )
    }

    /// llama.cpp's padding of a vocabulary to the model's size.
    fn padding(&self, i: usize, t: &str) -> bool {
        self.ty(i) == i64::from(UNUSED) && t == format!("[PAD{i}]")
    }

    /// `tokenizer_config.json`: the special tokens and the chat template.
    fn tokenizer_config(&self) -> serde_json::Map<String, Json> {
        let mut tc = serde_json::Map::new();
        for (k, name) in [
            ("bos", "bos_token"),
            ("eos", "eos_token"),
            ("unknown", "unk_token"),
            ("seperator", "sep_token"),
            ("padding", "pad_token"),
            ("cls", "cls_token"),
            ("mask", "mask_token"),
        ] {
            if let Some(t) = self.token_of(self.special_id(k)) {
                tc.insert(name.into(), serde_json::json!(t));
            }
        }
        if let Some(t) = self
            .file
            .get("tokenizer.chat_template")
            .and_then(Value::as_str)
        {
            tc.insert("chat_template".into(), serde_json::json!(t));
        }
        tc
    }
}

/// Rebuilds Hugging Face `tokenizer.json` and `tokenizer_config.json` from
/// a GGUF's `tokenizer.ggml.*` metadata (the reverse of [`metadata`]) for
/// `gpt2` (byte-level BPE), `llama` (SentencePiece BPE, as transformers'
/// LlamaTokenizerFast) and `bert` (WordPiece) vocabularies. `Ok(None)`
/// when the file has no tokenizer; an error names what is not rebuilt.
pub fn hf_tokenizer(file: &crate::container::GgufFile) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    use serde_json::json;
    let Some(model) = file.get("tokenizer.ggml.model").and_then(Value::as_str) else {
        return Ok(None);
    };
    let v = GgufVocab::new(file);
    let mut tc = v.tokenizer_config();
    let tokenizer = match model {
        "gpt2" => gpt2_tokenizer(&v)?,
        "bert" => bert_tokenizer(&v, &mut tc)?,
        "llama" => llama_tokenizer(&v),
        other => {
            return Err(Error::InvalidOption(format!(
                "tokenizer.ggml.model '{other}': rebuilding tokenizer.json is supported for gpt2, llama and bert vocabularies only"
            )))
        }
    };
    tc.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    let to_bytes =
        |v: &Json| serde_json::to_vec_pretty(v).map_err(|e| Error::Internal(e.to_string()));
    Ok(Some((to_bytes(&tokenizer)?, to_bytes(&Json::Object(tc))?)))
}

/// Byte-level BPE (`gpt2`), with the pre-tokenizer of `tokenizer.ggml.pre`.
fn gpt2_tokenizer(v: &GgufVocab<'_>) -> Result<Json> {
    use serde_json::json;
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (i, t) in v.tokens.iter().enumerate() {
        if v.padding(i, t) {
            continue;
        }
        vocab.insert(t.clone(), json!(i));
        if v.ty(i) == i64::from(CONTROL) || v.ty(i) == i64::from(USER_DEFINED) {
            added.push(json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": v.ty(i) != i64::from(CONTROL), "special": v.ty(i) == i64::from(CONTROL)}));
        }
    }
    let pre = v
        .file
        .get("tokenizer.ggml.pre")
        .and_then(Value::as_str)
        .unwrap_or("gpt-2");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let pre_tokenizer = match KNOWN_SPLITS.iter().find(|(_, p)| *p == pre) {
        Some((re, _)) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false},
            byte_level(false)]}),
        None if pre == "gpt-2" || pre == "default" => byte_level(true),
        None => {
            return Err(Error::InvalidOption(format!(
                "tokenizer.ggml.pre '{pre}': rebuilding its tokenizer.json is not supported (gpt-2, llama-bpe and qwen2 are); the GGUF tokenizer was not converted"
            )))
        }
    };
    let bos = v
        .token_of(v.special_id("bos"))
        .filter(|_| v.flag("add_bos_token"));
    let eos = v
        .token_of(v.special_id("eos"))
        .filter(|_| v.flag("add_eos_token"));
    let post = if bos.is_some() || eos.is_some() {
        let mut single = Vec::new();
        let mut pair = Vec::new();
        let mut specials = serde_json::Map::new();
        let sp = |t: &String| json!({"SpecialToken": {"id": t, "type_id": 0}});
        if let Some(b) = &bos {
            single.push(sp(b));
            pair.push(sp(b));
        }
        single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        pair.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        if let Some(e) = &eos {
            single.push(sp(e));
            pair.push(sp(e));
        }
        if let Some(b) = &bos {
            pair.push(sp(b));
        }
        pair.push(json!({"Sequence": {"id": "B", "type_id": 0}}));
        if let Some(e) = &eos {
            pair.push(sp(e));
        }
        for (t, k) in [(&bos, "bos"), (&eos, "eos")] {
            if let Some(t) = t {
                specials.insert(
                    t.clone(),
                    json!({"id": t, "ids": [v.special_id(k)], "tokens": [t]}),
                );
            }
        }
        json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
    } else {
        json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
    };
    let merges: Vec<Json> = v
        .strings("tokenizer.ggml.merges")
        .into_iter()
        .filter_map(|m| m.split_once(' ').map(|(a, b)| json!([a, b])))
        .collect();
    Ok(json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": pre_tokenizer, "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": v.token_of(v.special_id("unknown")),
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": merges}
    }))
}

/// WordPiece (`bert`), built as transformers' BertTokenizerFast.
fn bert_tokenizer(v: &GgufVocab<'_>, tc: &mut serde_json::Map<String, Json>) -> Result<Json> {
    use serde_json::json;
    // Undo llama.cpp's WordPiece spelling: "▁word" starts a word,
    // a bare piece continues one ("##piece").
    let vocab: Vec<String> = v
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if v.ty(i) == i64::from(CONTROL) {
                t.clone()
            } else {
                match t.strip_prefix('\u{2581}') {
                    Some(w) => w.to_string(),
                    None => format!("##{t}"),
                }
            }
        })
        .collect();
    // llama.cpp's WordPiece lower-cases and strips accents.
    tc.insert("do_lower_case".into(), json!(true));
    let bytes = modelconv_arch::tokenizer::wordpiece_from_vocab(
        &vocab.join("\n"),
        Some(&Json::Object(tc.clone())),
    )?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Internal(e.to_string()))
}

/// SentencePiece BPE as transformers' LlamaTokenizerFast spells it: the
/// pieces as a byte-fallback BPE vocabulary, merges recovered from the
/// pieces (every split of a piece into two pieces, ranked by the merged
/// piece's score), and the legacy normaliser that turns spaces into "▁"
/// with a leading one.
fn llama_tokenizer(v: &GgufVocab<'_>) -> Json {
    use serde_json::json;
    // SentencePiece BPE as transformers' LlamaTokenizerFast spells
    // it: the pieces as a byte-fallback BPE vocabulary, merges
    // recovered from the pieces (every split of a piece into two
    // pieces, ranked by the merged piece's score), and the legacy
    // normaliser that turns spaces into "▁" with a leading one.
    let scores: Vec<f32> = match v.file.get("tokenizer.ggml.scores") {
        Some(Value::Array(_, v)) => v
            .iter()
            .map(|x| match x {
                Value::F32(f) => *f,
                _ => 0.0,
            })
            .collect(),
        _ => Vec::new(),
    };
    let score = |i: usize| scores.get(i).copied().unwrap_or(0.0);
    let mut vocab = serde_json::Map::new();
    let mut ids: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut added = Vec::new();
    for (i, t) in v.tokens.iter().enumerate() {
        if v.padding(i, t) {
            continue;
        }
        vocab.insert(t.clone(), json!(i));
        ids.insert(t.as_str(), i);
        if v.ty(i) == i64::from(CONTROL) || v.ty(i) == 2 || v.ty(i) == i64::from(USER_DEFINED) {
            added.push(json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": v.ty(i) == i64::from(USER_DEFINED), "special": v.ty(i) != i64::from(USER_DEFINED)}));
        }
    }
    let mut merges: Vec<(f32, usize, usize, usize, &str, &str)> = Vec::new();
    for (i, t) in v.tokens.iter().enumerate() {
        // Every split of a piece is looked up: pieces longer than any
        // SentencePiece piece (a hostile megabyte-long token) would
        // make this quadratic.
        if v.ty(i) != i64::from(NORMAL) || t.len() > MAX_MERGE_PIECE {
            continue;
        }
        for (cut, _) in t.char_indices().skip(1) {
            let (l, r) = t.split_at(cut);
            if let (Some(&a), Some(&b)) = (ids.get(l), ids.get(r)) {
                merges.push((score(i), i, a, b, l, r));
            }
        }
    }
    merges.sort_by(|x, y| {
        y.0.total_cmp(&x.0)
            .then(x.1.cmp(&y.1))
            .then(x.2.cmp(&y.2))
            .then(x.3.cmp(&y.3))
    });
    let merges: Vec<Json> = merges.iter().map(|m| json!([m.4, m.5])).collect();
    let bos = v.token_of(v.special_id("bos")).filter(|_| {
        !matches!(
            v.file.get("tokenizer.ggml.add_bos_token"),
            Some(Value::Bool(false))
        )
    });
    let eos = v
        .token_of(v.special_id("eos"))
        .filter(|_| v.flag("add_eos_token"));
    let sp = |t: &String| json!({"SpecialToken": {"id": t, "type_id": 0}});
    let mut single = Vec::new();
    let mut specials = serde_json::Map::new();
    if let Some(b) = &bos {
        single.push(sp(b));
        specials.insert(
            b.clone(),
            json!({"id": b, "ids": [v.special_id("bos")], "tokens": [b]}),
        );
    }
    single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    if let Some(e) = &eos {
        single.push(sp(e));
        specials.insert(
            e.clone(),
            json!({"id": e, "ids": [v.special_id("eos")], "tokens": [e]}),
        );
    }
    let mut pair = single.clone();
    pair.extend(single.iter().map(|x| {
        if x.get("Sequence").is_some() {
            json!({"Sequence": {"id": "B", "type_id": 1}})
        } else {
            x.clone()
        }
    }));
    let space_prefix = !matches!(
        v.file.get("tokenizer.ggml.add_space_prefix"),
        Some(Value::Bool(false))
    );
    let mut norm = Vec::new();
    if space_prefix {
        norm.push(json!({"type": "Prepend", "prepend": "\u{2581}"}));
    }
    norm.push(json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}));
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if space_prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": norm},
        "pre_tokenizer": null,
        "post_processor": {"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials},
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": null, "unk_token": v.token_of(v.special_id("unknown")),
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true,
            "byte_fallback": true, "ignore_merges": false, "vocab": vocab, "merges": merges}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_table_and_python_list_format() {
        // sha256 of the text "[1, 2, 3]", as Python's str([1, 2, 3]) prints it.
        // (value from `echo -n "[1, 2, 3]" | sha256sum`)
        assert_eq!(
            fingerprint(&[1, 2, 3]),
            "a36b1f2c3f84522dd1005145646617d7054c0851e97c72a039c0bdfac9fa07f3"
        );
        assert_eq!(
            pre_for_fingerprint("0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5"),
            Some("llama-bpe")
        );
        assert!(PRE_CHECK_TEXT.contains("🦙🦙 3 33 333"));
        assert_eq!(pre_for_fingerprint("00"), None);
    }
}
