//! Tensor-name globs: `*` matches any run of characters (dots included),
//! `?` matches one character; everything else matches itself, ignoring
//! ASCII case (so `*norm*` catches both `layernorm` and `LayerNorm`).

/// True if `name` matches `pattern` as a whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ni) = (0, 0);
    // Position of the last `*` and the name position it is matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches(
            "*norm*",
            "encoder.layer.0.attention.output.LayerNorm.weight"
        ));
        assert!(matches(
            "*Norm*",
            "encoder.layer.0.attention.output.LayerNorm.weight"
        ));
        assert!(matches("*norm*", "model.layers.0.input_layernorm.weight"));
        assert!(matches("*.bias", "a.b.bias"));
        assert!(!matches("*.bias", "a.b.bias2"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", ""));
        assert!(matches("lm_head.weight", "lm_head.weight"));
        assert!(matches("**x", "yx"));
    }
}
