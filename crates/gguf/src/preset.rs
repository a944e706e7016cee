//! Quantization presets ("file types") and the per-tensor type choice,
//! following llama.cpp's `llama-quantize` (`src/llama-quant.cpp`):
//! `Q4_K_M` means "Q4_K by default, but the output, half of the attn_v and
//! ffn_down layers and a few others at higher precision". The rules are
//! re-stated here from that source for the architectures modelconv writes
//! (dense, no experts); the result is checked tensor by tensor against the
//! real `llama-quantize` in tests (`tests/data/quant_choices.json`).
//!
//! Counters matter: like llama.cpp, the choice for `attn_v` and
//! `ffn_down` depends on how many of them came before in file order, so
//! [`Chooser::choose`] must be called once per tensor, in write order.

use regex::Regex;

use crate::types::GgmlType;

/// A llama.cpp file type (`general.file_type`) and its default tensor type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Name as llama-quantize spells it (`Q4_K_M`).
    pub name: &'static str,
    /// `general.file_type` (`LLAMA_FTYPE_*`).
    pub file_type: u32,
    /// The type most weight matrices get.
    pub default: GgmlType,
}

/// Every preset modelconv writes.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "F32",
        file_type: 0,
        default: GgmlType::F32,
    },
    Preset {
        name: "F16",
        file_type: 1,
        default: GgmlType::F16,
    },
    Preset {
        name: "Q4_0",
        file_type: 2,
        default: GgmlType::Q4_0,
    },
    Preset {
        name: "Q4_1",
        file_type: 3,
        default: GgmlType::Q4_1,
    },
    Preset {
        name: "Q8_0",
        file_type: 7,
        default: GgmlType::Q8_0,
    },
    Preset {
        name: "Q5_0",
        file_type: 8,
        default: GgmlType::Q5_0,
    },
    Preset {
        name: "Q5_1",
        file_type: 9,
        default: GgmlType::Q5_1,
    },
    Preset {
        name: "Q2_K",
        file_type: 10,
        default: GgmlType::Q2_K,
    },
    Preset {
        name: "Q3_K_S",
        file_type: 11,
        default: GgmlType::Q3_K,
    },
    Preset {
        name: "Q3_K_M",
        file_type: 12,
        default: GgmlType::Q3_K,
    },
    Preset {
        name: "Q3_K_L",
        file_type: 13,
        default: GgmlType::Q3_K,
    },
    Preset {
        name: "Q4_K_S",
        file_type: 14,
        default: GgmlType::Q4_K,
    },
    Preset {
        name: "Q4_K_M",
        file_type: 15,
        default: GgmlType::Q4_K,
    },
    Preset {
        name: "Q5_K_S",
        file_type: 16,
        default: GgmlType::Q5_K,
    },
    Preset {
        name: "Q5_K_M",
        file_type: 17,
        default: GgmlType::Q5_K,
    },
    Preset {
        name: "Q6_K",
        file_type: 18,
        default: GgmlType::Q6_K,
    },
    Preset {
        name: "BF16",
        file_type: 32,
        default: GgmlType::BF16,
    },
];

impl Preset {
    /// Looks a preset up by name, case-insensitively (`q4_k_m` = `Q4_K_M`).
    /// `Q3_K`, `Q4_K` and `Q5_K` alone mean the `_M` mix, as in llama-quantize.
    pub fn from_name(name: &str) -> Option<Preset> {
        let upper = name.to_ascii_uppercase();
        let upper = match upper.as_str() {
            "Q3_K" => "Q3_K_M",
            "Q4_K" => "Q4_K_M",
            "Q5_K" => "Q5_K_M",
            other => other,
        };
        PRESETS.iter().copied().find(|p| p.name == upper)
    }

    /// All preset names, for error messages.
    pub fn names() -> String {
        PRESETS
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn is_quantized(self) -> bool {
        self.default.dtype().is_none()
    }
}

/// The role of a tensor, from its GGUF name (llama.cpp's `tensor_category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Output,
    TokenEmbd,
    AttnQkv,
    AttnV,
    AttnK,
    AttnQ,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Other,
}

fn category(name: &str) -> Category {
    match name {
        "output.weight" => return Category::Output,
        "token_embd.weight" | "per_layer_token_embd.weight" => return Category::TokenEmbd,
        _ => {}
    }
    let rules = [
        ("attn_qkv.weight", Category::AttnQkv),
        ("attn_v.weight", Category::AttnV),
        ("attn_k.weight", Category::AttnK),
        ("attn_q.weight", Category::AttnQ),
        ("attn_output.weight", Category::AttnOutput),
        ("ffn_up", Category::FfnUp),
        ("ffn_gate", Category::FfnGate),
        ("ffn_down", Category::FfnDown),
    ];
    rules
        .iter()
        .find(|(p, _)| name.contains(p))
        .map_or(Category::Other, |(_, c)| *c)
}

/// Whether llama-quantize would quantize this tensor at all (matrices whose
/// name ends in `weight`, except norms, position and token-type
/// embeddings and a few small special tensors).
pub fn allows_quantization(name: &str, n_dims: usize) -> bool {
    n_dims >= 2
        && name.ends_with("weight")
        && !name.contains("_norm.weight")
        && !name.contains("ffn_gate_inp.weight")
        && name != "position_embd.weight"
        && name != "token_types.weight"
        && !name.contains("attn_rel_b.weight")
        && !name.contains("ssm_conv1d")
}

/// A per-tensor override (`--tensor-type PATTERN=TYPE`): the first
/// pattern that matches anywhere in the GGUF name wins (llama-quantize's
/// `std::regex_search`).
#[derive(Debug, Clone)]
pub struct Override {
    /// The pattern.
    pub pattern: Regex,
    /// The type for matching tensors.
    pub ggml_type: GgmlType,
}

impl Override {
    /// Parses `PATTERN=TYPE` (type names case-insensitive).
    pub fn parse(spec: &str) -> Result<Override, String> {
        let (p, t) = spec
            .rsplit_once('=')
            .ok_or_else(|| format!("--tensor-type '{spec}': expected PATTERN=TYPE"))?;
        let pattern = Regex::new(p).map_err(|e| format!("--tensor-type '{spec}': {e}"))?;
        let ggml_type = GgmlType::from_name(t)
            .filter(|t| crate::quant::has_quantizer(*t))
            .ok_or_else(|| format!("--tensor-type '{spec}': modelconv cannot write type '{t}'"))?;
        Ok(Override { pattern, ggml_type })
    }
}

/// What [`Chooser::choose`] decided for one tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The type to write.
    pub ggml_type: GgmlType,
    /// Set when the row length forced a different type than the mix
    /// wanted (llama.cpp's fallback), saying what and why.
    pub fallback: Option<String>,
    /// Set when a `--tensor-type` override decided.
    pub overridden: bool,
}

/// Chooses each tensor's type for a preset, in file order.
#[derive(Debug, Clone)]
pub struct Chooser {
    preset: Preset,
    overrides: Vec<Override>,
    n_layer: usize,
    n_gqa: usize,
    tied: bool,
    n_attention_wv: usize,
    i_attention_wv: usize,
    i_ffn_down: usize,
}

fn use_more_bits(i: usize, n: usize) -> bool {
    // llama.cpp computes (i - n/8) % 3 in signed ints; here the first
    // test has already taken every i < n/8, so the subtraction cannot wrap.
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

impl Chooser {
    /// A chooser for a file holding `names` (GGUF names, in write order), a
    /// model with `n_layer` blocks and `n_head / n_head_kv` = `n_gqa`.
    pub fn new(
        preset: Preset,
        overrides: Vec<Override>,
        names: &[&str],
        n_layer: usize,
        n_gqa: usize,
    ) -> Self {
        Chooser {
            preset,
            overrides,
            n_layer,
            n_gqa: n_gqa.max(1),
            tied: !names.contains(&"output.weight"),
            n_attention_wv: names
                .iter()
                .filter(|n| matches!(category(n), Category::AttnV | Category::AttnQkv))
                .count(),
            i_attention_wv: 0,
            i_ffn_down: 0,
        }
    }

    /// The type for tensor `name` of C-order `shape`; `kept` is the type it
    /// gets when it is not quantized (e.g. F32 for norms).
    pub fn choose(&mut self, name: &str, shape: &[usize], kept: GgmlType) -> Choice {
        let plain = Choice {
            ggml_type: kept,
            fallback: None,
            overridden: false,
        };
        if !allows_quantization(name, shape.len()) {
            return plain;
        }
        let ncols = shape.last().copied().unwrap_or(1) as u64;
        let mut ty = self.preset.default;
        let mut overridden = false;
        if self.preset.is_quantized() {
            if let Some(o) = self.overrides.iter().find(|o| o.pattern.is_match(name)) {
                ty = o.ggml_type;
                overridden = true;
            } else {
                ty = self.mix(name, ncols, ty);
            }
            return self.fallback(name, ncols, ty, overridden);
        }
        Choice {
            ggml_type: ty,
            fallback: None,
            overridden,
        }
    }

    /// llama.cpp's `llama_tensor_get_type_impl` for the presets above.
    fn mix(&mut self, name: &str, ncols: u64, default: GgmlType) -> GgmlType {
        use GgmlType as T;
        let ft = self.preset.name;
        let cat = category(name);
        let mut t = default;
        if cat == Category::Output || (self.tied && cat == Category::TokenEmbd) {
            if !ncols.is_multiple_of(default.block_size) {
                t = T::Q8_0;
            } else if t != T::Q8_0 {
                t = T::Q6_K;
            }
            return t;
        }
        match cat {
            // attn_qkv takes this branch too (llama.cpp tests attn_v-like
            // categories first, so its own attn_qkv rule never applies).
            Category::AttnV | Category::AttnQkv => {
                t = match ft {
                    "Q2_K" => {
                        if self.n_gqa >= 4 {
                            T::Q4_K
                        } else {
                            T::Q3_K
                        }
                    }
                    "Q3_K_M" => {
                        if self.i_attention_wv < 2 {
                            T::Q5_K
                        } else {
                            T::Q4_K
                        }
                    }
                    "Q3_K_L" => T::Q5_K,
                    "Q4_K_M" | "Q5_K_M"
                        if use_more_bits(self.i_attention_wv, self.n_attention_wv) =>
                    {
                        T::Q6_K
                    }
                    "Q4_K_S" if self.i_attention_wv < 4 => T::Q5_K,
                    _ => t,
                };
                self.i_attention_wv += 1;
            }
            Category::FfnDown => {
                let (i, n) = (self.i_ffn_down, self.n_layer);
                t = match ft {
                    "Q2_K" => T::Q3_K,
                    "Q3_K_M" => {
                        if i < n / 16 {
                            T::Q5_K
                        } else {
                            T::Q4_K
                        }
                    }
                    "Q3_K_L" => T::Q5_K,
                    "Q4_K_M" if use_more_bits(i, n) => T::Q6_K,
                    "Q5_K_M" if use_more_bits(i, n) => T::Q6_K,
                    "Q4_K_S" if i < n / 8 => T::Q5_K,
                    _ => t,
                };
                self.i_ffn_down += 1;
            }
            Category::AttnOutput => {
                t = match ft {
                    "Q2_K" => T::Q3_K,
                    "Q3_K_M" => T::Q4_K,
                    "Q3_K_L" => T::Q5_K,
                    _ => t,
                };
            }
            _ => {}
        }
        t
    }

    /// llama.cpp's `tensor_type_fallback`: rows that are not whole blocks.
    fn fallback(&self, name: &str, ncols: u64, want: GgmlType, overridden: bool) -> Choice {
        use GgmlType as T;
        if ncols.is_multiple_of(want.block_size) {
            return Choice {
                ggml_type: want,
                fallback: None,
                overridden,
            };
        }
        let mut got = match want.name {
            "Q2_K" | "Q3_K" | "TQ1_0" | "TQ2_0" | "Q2_0" => T::Q4_0,
            "Q4_K" => T::Q5_0,
            "Q5_K" => T::Q5_1,
            "Q6_K" => T::Q8_0,
            _ => want,
        };
        if !ncols.is_multiple_of(got.block_size) {
            got = T::F16;
        }
        Choice {
            ggml_type: got,
            fallback: Some(format!(
                "{name}: rows of {ncols} are not a multiple of {want}'s block of {}; written as {got}",
                want.block_size
            )),
            overridden,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(Preset::from_name("q4_k_m").unwrap().file_type, 15);
        assert_eq!(Preset::from_name("Q4_K").unwrap().name, "Q4_K_M");
        assert!(Preset::from_name("Q7_K").is_none());
    }

    #[test]
    fn use_more_bits_matches_llama_cpp_for_32_layers() {
        // i < 4, i >= 28, or (i - 4) % 3 == 2: 0-3, 6, 9, ..., 27, 28-31.
        let got: Vec<usize> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
        let want = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
        assert_eq!(got, want);
    }

    #[test]
    fn fallbacks_follow_llama_cpp() {
        let p = Preset::from_name("Q4_K_M").unwrap();
        let mut c = Chooser::new(p, Vec::new(), &["output.weight"], 2, 1);
        let ch = c.choose("blk.0.ffn_up.weight", &[64, 96], GgmlType::F32);
        assert_eq!(ch.ggml_type, GgmlType::Q5_0);
        assert!(ch.fallback.is_some());
        let ch = c.choose("blk.0.ffn_up.weight", &[64, 40], GgmlType::F32);
        assert_eq!(ch.ggml_type, GgmlType::F16);
        let ch = c.choose("blk.0.attn_norm.weight", &[64], GgmlType::F32);
        assert_eq!(ch.ggml_type, GgmlType::F32);
    }
}
