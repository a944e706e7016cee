//! Image inputs for CLIP checks: PNG decoding (the `png` crate), a centre
//! crop to a square and a bilinear resize to the model's image size.

use std::path::Path;

use modelconv_core::{Error, Result};

/// Decodes `path` (8-bit gray, gray+alpha, RGB or RGBA PNG) into `size`×`size` RGB bytes (HWC).
pub fn load_png(path: &Path, size: usize) -> Result<Vec<u8>> {
    let bad = |d: String| Error::InvalidOption(format!("{}: {d}", path.display()));
    let file = modelconv_core::fsx::open_input(path)?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let (w, h) = {
        let info = reader.info();
        (info.width as usize, info.height as usize)
    };
    if w == 0 || h == 0 || w.saturating_mul(h) > 64 << 20 {
        return Err(bad(format!("{w}x{h} is not a usable image size")));
    }
    let mut buf = vec![
        0u8;
        reader
            .output_buffer_size()
            .ok_or_else(|| bad("image too large".into()))?
    ];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(e.to_string()))?;
    let channels = frame.color_type.samples();
    let px = |x: usize, y: usize, c: usize| -> f32 {
        let i = (y * w + x) * channels;
        let c = if channels < 3 { 0 } else { c };
        f32::from(buf[i + c])
    };
    // Centre square crop, then bilinear sampling at pixel centres.
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let scale = side as f32 / size as f32;
    let mut out = Vec::with_capacity(size * size * 3);
    for oy in 0..size {
        for ox in 0..size {
            let sx = ((ox as f32 + 0.5) * scale - 0.5).clamp(0.0, (side - 1) as f32);
            let sy = ((oy as f32 + 0.5) * scale - 0.5).clamp(0.0, (side - 1) as f32);
            let (xa, ya) = (sx.floor() as usize, sy.floor() as usize);
            let (xb, yb) = ((xa + 1).min(side - 1), (ya + 1).min(side - 1));
            let (fx, fy) = (sx - xa as f32, sy - ya as f32);
            for c in 0..3 {
                let v = px(x0 + xa, y0 + ya, c) * (1.0 - fx) * (1.0 - fy)
                    + px(x0 + xb, y0 + ya, c) * fx * (1.0 - fy)
                    + px(x0 + xa, y0 + yb, c) * (1.0 - fx) * fy
                    + px(x0 + xb, y0 + yb, c) * fx * fy;
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelconv_core::error::IoContext;

    fn write_png(path: &Path, w: u32, h: u32, rgb: &[u8]) {
        let f = std::fs::File::create(path).unwrap_or_else(|e| unreachable!("{e}"));
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().unwrap_or_else(|e| unreachable!("{e}"));
        wr.write_image_data(rgb)
            .unwrap_or_else(|e| unreachable!("{e}"));
    }

    #[test]
    fn crop_and_resize() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("modelconv-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).at(&dir)?;
        // 8x4: left half red, right half blue; the centre crop is the middle 4x4.
        let mut rgb = Vec::new();
        for _y in 0..4 {
            for x in 0..8 {
                rgb.extend(if x < 4 { [255, 0, 0] } else { [0, 0, 255] });
            }
        }
        let p = dir.join("a.png");
        write_png(&p, 8, 4, &rgb);
        let out = load_png(&p, 2)?;
        assert_eq!(out, vec![255, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 255]);
        let big = load_png(&p, 16)?;
        assert_eq!(big.len(), 16 * 16 * 3);
        assert_eq!(&big[..3], &[255, 0, 0]);
        std::fs::write(dir.join("bad.png"), b"not a png").at(&dir)?;
        assert!(load_png(&dir.join("bad.png"), 4).is_err());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
