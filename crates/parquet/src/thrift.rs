// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! A bounded reader of Thrift's compact protocol, for untrusted Parquet
//! metadata: the footer and page-header checks in [`crate::reader`] walk
//! the bytes the way arrow-rs's skipper will, with every count bounded,
//! before arrow-rs sees them, and [`crate::pages`] reads page headers with
//! it.
//!
//! It follows arrow-rs where arrow-rs departs from the Thrift spec: a bool
//! *inside a list* takes no byte when skipped (the spec says one), so a list
//! of 2^31 bools costs arrow-rs 2^31 steps and no input. Walking it the
//! spec's way would put this walker somewhere else in the bytes than
//! arrow-rs (a fuzz finding: 103 bytes of nested bool lists kept arrow-rs
//! busy for a second, and for 13 s under the fuzzer). Every value visited
//! costs one step of a budget proportional to the input, which a valid
//! header, where every value takes at least a byte, never exhausts.
//!
//! Hand-written because the parquet crate's Thrift reader is not public.

use crate::pages::uleb128;

/// Why the bytes could not be walked.
pub(crate) type Why = &'static str;

/// A position in compact-protocol bytes.
pub(crate) struct Thrift<'a> {
    b: &'a [u8],
    pos: usize,
    steps_left: u64,
}

impl<'a> Thrift<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Thrift {
            b,
            pos: 0,
            steps_left: 2 * b.len() as u64 + 4096,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub(crate) fn left(&self) -> u64 {
        self.b.len().saturating_sub(self.pos) as u64
    }

    fn step(&mut self, n: u64) -> Result<(), Why> {
        self.steps_left = self
            .steps_left
            .checked_sub(n)
            .ok_or("metadata too complex for its size")?;
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, Why> {
        let v = *self.b.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(v)
    }

    fn varint(&mut self) -> Result<u64, Why> {
        let mut rest = self.b.get(self.pos..).unwrap_or_default();
        let before = rest.len();
        let v = uleb128(&mut rest).ok_or("truncated or overlong varint")?;
        self.pos += before - rest.len();
        Ok(v)
    }

    /// A zigzag-encoded integer (i16, i32 or i64).
    pub(crate) fn zigzag(&mut self) -> Result<i64, Why> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A list or set header: element count and element type.
    pub(crate) fn list_header(&mut self) -> Result<(u64, u8), Why> {
        let h = self.byte()?;
        let n = match h >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        Ok((n, h & 0x0f))
    }

    fn skip_bytes(&mut self, n: u64) -> Result<(), Why> {
        if n > self.left() {
            return Err("length past the end");
        }
        self.pos += n as usize;
        Ok(())
    }

    /// Calls `f(self, field id, type)` for each field of a struct, up to its
    /// stop byte; `f` must consume the field's value (a bool field's value
    /// is in its type, 1 = true, 2 = false, and takes no byte).
    pub(crate) fn fields(
        &mut self,
        mut f: impl FnMut(&mut Self, i64, u8) -> Result<(), Why>,
    ) -> Result<(), Why> {
        let mut field: i64 = 0;
        loop {
            self.step(1)?;
            let h = self.byte()?;
            if h == 0 {
                return Ok(());
            }
            field = match h >> 4 {
                0 => self.zigzag()?,
                d => field + i64::from(d),
            };
            f(self, field, h & 0x0f)?;
        }
    }

    /// Skips one value of compact type `ty` (bools take no byte: in a
    /// struct the value is in the type, in a list arrow-rs skips none).
    pub(crate) fn skip(&mut self, ty: u8, depth: u32) -> Result<(), Why> {
        if depth > 32 {
            return Err("nested too deep");
        }
        self.step(1)?;
        match ty {
            1 | 2 => Ok(()),
            3 => self.skip_bytes(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip_bytes(8),
            8 => {
                let n = self.varint()?;
                self.skip_bytes(n)
            }
            9 | 10 => {
                let (n, elem) = self.list_header()?;
                if elem == 1 || elem == 2 {
                    // No bytes per element: only the budget bounds them.
                    return self.step(n);
                }
                if n > self.left() {
                    return Err("list longer than the bytes left");
                }
                (0..n).try_for_each(|_| self.skip(elem, depth + 1))
            }
            11 => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                if n.saturating_mul(2) > self.left() {
                    return Err("map longer than the bytes left");
                }
                let kv = self.byte()?;
                (0..n).try_for_each(|_| {
                    self.skip(kv >> 4, depth + 1)?;
                    self.skip(kv & 0x0f, depth + 1)
                })
            }
            12 => self.fields(|t, _, ty| t.skip(ty, depth + 1)),
            _ => Err("unknown type"),
        }
    }
}
