//! Already-quantized checkpoints in the V2 schema: an int8/uint8 tensor
//! `X` with companions `X_scale` / `X.scale` (float) and optionally
//! `X_zero_point` / `X.zero_point` (int) is written as one V2 row carrying
//! the scales and zero points losslessly, instead of three rows.

use std::collections::{HashMap, HashSet};

use modelconv_core::engine::OutTensor;
use modelconv_core::DType;

/// Quantization parameters of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantInfo {
    /// `int8` or `uint8`.
    pub quant_type: String,
    /// One scale per channel (or one per tensor).
    pub scales: Vec<f32>,
    /// Zero points (empty = symmetric).
    pub zero_points: Vec<i64>,
    /// Channel axis, −1 for per-tensor.
    pub axis: i32,
}

/// What [`find_companions`] found.
#[derive(Debug, Default)]
pub struct Companions {
    /// Indices of companion tensors folded into another tensor's row.
    pub folded: HashSet<usize>,
    /// Quantization of the quantized tensors, by index.
    pub quant: HashMap<usize, QuantInfo>,
}

fn floats(t: &OutTensor) -> Option<Vec<f32>> {
    let (bytes, _) = t.read_output(0..t.info.nbytes()).ok()?;
    Some(match t.info.dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect(),
        // F64 scales would lose precision in float32: not folded.
        _ => return None,
    })
}

fn ints(t: &OutTensor) -> Option<Vec<i64>> {
    let (b, _) = t.read_output(0..t.info.nbytes()).ok()?;
    Some(match t.info.dtype {
        DType::I8 => b.iter().map(|&x| i64::from(x as i8)).collect(),
        DType::U8 => b.iter().map(|&x| i64::from(x)).collect(),
        DType::I16 => b
            .chunks_exact(2)
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::I32 => b
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::I64 => b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        _ => return None,
    })
}

/// Finds int8/uint8 tensors with scale (and zero-point) companions.
pub fn find_companions(tensors: &[OutTensor]) -> Companions {
    let index: HashMap<&str, usize> = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.info.name.as_str(), i))
        .collect();
    let mut out = Companions::default();
    for (i, t) in tensors.iter().enumerate() {
        let quant_type = match t.info.dtype {
            DType::I8 => "int8",
            DType::U8 => "uint8",
            _ => continue,
        };
        let name = &t.info.name;
        let find = |suffixes: &[&str]| {
            suffixes
                .iter()
                .find_map(|s| index.get(format!("{name}{s}").as_str()).copied())
        };
        let Some(si) = find(&["_scale", ".scale"]) else {
            continue;
        };
        let Some(scales) = floats(&tensors[si]) else {
            continue;
        };
        let zi = find(&["_zero_point", ".zero_point"]);
        let zero_points = match zi {
            Some(z) => match ints(&tensors[z]) {
                Some(v) if v.len() == scales.len() => v,
                _ => continue,
            },
            None => Vec::new(),
        };
        let axis = if scales.len() == 1 {
            -1
        } else {
            match t.info.shape.iter().position(|&d| d == scales.len()) {
                Some(a) => a as i32,
                None => continue,
            }
        };
        out.folded.insert(si);
        if let Some(z) = zi {
            out.folded.insert(z);
        }
        out.quant.insert(
            i,
            QuantInfo {
                quant_type: quant_type.into(),
                scales,
                zero_points,
                axis,
            },
        );
    }
    out
}
