// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! Reads a SentencePiece model (`tokenizer.model`, a `ModelProto`
//! protobuf) far enough to build llama.cpp's `llama` vocabulary: every
//! piece with its score and type.
//!
//! Hand-written because the only crates that read these files bind the C++
//! library; the part needed here is one repeated message of three fields.
//! Wire format: field 1 of `ModelProto` is `repeated SentencePiece pieces`,
//! and a `SentencePiece` is `{1: string piece, 2: float score, 3: enum type}`
//! (type NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5,
//! BYTE = 6; NORMAL when absent). Other fields are skipped. Every length is
//! checked against the bytes that are left, so a hostile file gives an error,
//! never a panic or a large allocation.

use modelconv_core::{Error, Result};

/// Most pieces a model may have (Gemma has 256 Ki).
const MAX_PIECES: usize = 4 << 20;

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The piece text (`▁` for spaces, `<0x41>` for byte pieces).
    pub piece: String,
    /// Its score (log probability for unigram models, negative rank for BPE).
    pub score: f32,
    /// SentencePiece's type (1 normal … 6 byte).
    pub kind: u8,
}

fn bad(what: impl Into<String>) -> Error {
    Error::InvalidOption(format!("tokenizer.model: {}", what.into()))
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .b
                .get(self.pos)
                .ok_or_else(|| bad(format!("varint past the end at byte {}", self.pos)))?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad(format!(
            "varint longer than 10 bytes at byte {}",
            self.pos
        )))
    }

    fn bytes(&mut self, n: u64) -> Result<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| bad("length overflows"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| {
                bad(format!(
                    "field of {n} bytes at byte {} runs past the end",
                    self.pos
                ))
            })?;
        let s = self.b.get(self.pos..end).ok_or_else(|| bad("slice"))?;
        self.pos = end;
        Ok(s)
    }

    /// Reads a tag; returns (field number, wire type).
    fn tag(&mut self) -> Result<(u64, u8)> {
        let t = self.varint()?;
        Ok((t >> 3, (t & 7) as u8))
    }

    /// Skips a value of wire type `wt`, or returns it for LEN and I32.
    fn value(&mut self, wt: u8) -> Result<Value<'a>> {
        Ok(match wt {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.bytes(8)?;
                Value::Other
            }
            2 => {
                let n = self.varint()?;
                Value::Len(self.bytes(n)?)
            }
            5 => {
                let b = self.bytes(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::I32(a)
            }
            other => return Err(bad(format!("wire type {other} at byte {}", self.pos))),
        })
    }
}

enum Value<'a> {
    Varint(u64),
    Len(&'a [u8]),
    I32([u8; 4]),
    Other,
}

/// Parses the pieces of a SentencePiece model.
pub fn pieces(model: &[u8]) -> Result<Vec<Piece>> {
    let mut r = Reader { b: model, pos: 0 };
    let mut out = Vec::new();
    while r.pos < model.len() {
        let (field, wt) = r.tag()?;
        let v = r.value(wt)?;
        if let (1, Value::Len(msg)) = (field, v) {
            if out.len() >= MAX_PIECES {
                return Err(bad(format!("more than {MAX_PIECES} pieces")));
            }
            out.push(piece(msg)?);
        }
    }
    if out.is_empty() {
        return Err(bad("no pieces (not a SentencePiece model?)"));
    }
    Ok(out)
}

fn piece(msg: &[u8]) -> Result<Piece> {
    let mut r = Reader { b: msg, pos: 0 };
    let mut p = Piece {
        piece: String::new(),
        score: 0.0,
        kind: 1,
    };
    while r.pos < msg.len() {
        let (field, wt) = r.tag()?;
        match (field, r.value(wt)?) {
            (1, Value::Len(s)) => {
                p.piece = String::from_utf8(s.to_vec()).map_err(|_| bad("a piece is not UTF-8"))?
            }
            (2, Value::I32(b)) => p.score = f32::from_le_bytes(b),
            (3, Value::Varint(t)) => {
                p.kind = u8::try_from(t)
                    .ok()
                    .filter(|t| (1..=6).contains(t))
                    .ok_or_else(|| bad(format!("piece type {t}")))?
            }
            _ => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_pieces_and_refuses_truncation() {
        // pieces { piece: "a" score: -1.5 type: CONTROL } pieces { piece: "▁b" }
        let mut m = vec![0x0a, 10, 0x0a, 1, b'a', 0x15];
        m.extend_from_slice(&(-1.5f32).to_le_bytes());
        m.extend_from_slice(&[0x18, 3]);
        let b = "▁b".as_bytes();
        m.extend_from_slice(&[0x0a, (b.len() + 2) as u8, 0x0a, b.len() as u8]);
        m.extend_from_slice(b);
        let p = pieces(&m).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].piece.as_str(), p[0].score, p[0].kind), ("a", -1.5, 3));
        assert_eq!((p[1].piece.as_str(), p[1].kind), ("▁b", 1));
        for cut in 1..m.len() {
            let _ = pieces(&m[..cut]); // never panics
        }
        assert!(pieces(&m[..m.len() - 1]).is_err());
        assert!(pieces(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
