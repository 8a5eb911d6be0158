//! Embedding `dimensions`: keep the first N components and renormalise.
//!
//! Matryoshka-trained embedding models put the most information first, and
//! OpenAI's `dimensions` parameter is defined as truncating then
//! L2-normalising. Vectors travel as little-endian float32 bytes (the
//! base64 wire form the SDKs ask for), so that is what we take and return.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedError {
    /// The byte length is not a whole number of float32 values.
    Misaligned(usize),
    /// `dimensions` is 0 or larger than the vector.
    BadDimensions { dimensions: usize, available: usize },
    /// A component is NaN or infinite.
    NotFinite,
}

impl std::fmt::Display for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Misaligned(n) => write!(f, "embedding of {n} bytes is not a float32 vector"),
            Self::BadDimensions {
                dimensions,
                available,
            } => {
                write!(
                    f,
                    "dimensions must be between 1 and {available}, got {dimensions}"
                )
            }
            Self::NotFinite => f.write_str("embedding holds a non-finite value"),
        }
    }
}

impl std::error::Error for EmbedError {}

pub fn truncate(raw: &[u8], dimensions: usize) -> Result<Vec<u8>, EmbedError> {
    if raw.len() % 4 != 0 {
        return Err(EmbedError::Misaligned(raw.len()));
    }
    let available = raw.len() / 4;
    if dimensions == 0 || dimensions > available {
        return Err(EmbedError::BadDimensions {
            dimensions,
            available,
        });
    }
    let kept: Vec<f32> = raw
        .chunks_exact(4)
        .take(dimensions)
        // chunks_exact(4) always converts; the fallback is never taken.
        .map(|c| c.try_into().map_or(0.0, f32::from_le_bytes))
        .collect();
    if kept.iter().any(|v| !v.is_finite()) {
        return Err(EmbedError::NotFinite);
    }
    // Sum in f64: thousands of squares in f32 lose digits.
    let norm = kept
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    // An all-zero prefix has no direction; return it as it is.
    let scale = if norm > 0.0 { 1.0 / norm } else { 1.0 };
    Ok(kept
        .iter()
        .flat_map(|&v| ((f64::from(v) * scale) as f32).to_le_bytes())
        .collect())
}

/// Little-endian float32 bytes as a JSON array, each value in its shortest
/// text that reads back as the same f32 (`0.1`, not `0.10000000149011612`):
/// about 11 bytes a value, and no Python float objects on the way.
pub fn to_json(raw: &[u8]) -> Result<Vec<u8>, EmbedError> {
    if raw.len() % 4 != 0 {
        return Err(EmbedError::Misaligned(raw.len()));
    }
    let mut out = Vec::with_capacity(2 + raw.len() / 4 * 12);
    let mut buf = ryu::Buffer::new();
    out.push(b'[');
    for (i, c) in raw.chunks_exact(4).enumerate() {
        let v = c.try_into().map_or(0.0, f32::from_le_bytes);
        if !v.is_finite() {
            return Err(EmbedError::NotFinite);
        }
        if i > 0 {
            out.push(b',');
        }
        let text = buf.format_finite(v);
        // ryu writes whole numbers as "1.0" and tiny ones as "1e-7": both valid JSON
        out.extend_from_slice(text.as_bytes());
    }
    out.push(b']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_floats_read_back_as_the_same_f32() {
        let v = [0.1f32, -0.0069292834, 1.0, 0.0, -3.5e-8, 123456.79];
        let text = String::from_utf8(to_json(&bytes(&v)).unwrap_or_default()).unwrap_or_default();
        let back: Vec<f64> = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back.len(), v.len(), "{text}");
        for (a, b) in v.iter().zip(&back) {
            assert_eq!(*a, *b as f32, "{text}");
        }
        assert!(text.starts_with("[0.1,"), "{text}");
        assert_eq!(to_json(&[]).unwrap_or_default(), b"[]");
        assert_eq!(to_json(&[0; 5]), Err(EmbedError::Misaligned(5)));
        assert_eq!(to_json(&bytes(&[f32::NAN])), Err(EmbedError::NotFinite));
    }

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn floats(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn truncates_and_renormalises() {
        let out = floats(&truncate(&bytes(&[3.0, 4.0, 12.0, 1.0]), 2).unwrap_or_default());
        assert_eq!(out.len(), 2);
        assert!(
            (out[0] - 0.6).abs() < 1e-6 && (out[1] - 0.8).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn unit_norm_after_truncation() {
        let v: Vec<f32> = (0..1024)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let out = floats(&truncate(&bytes(&v), 256).unwrap_or_default());
        let n: f64 = out
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        assert!((n - 1.0).abs() < 1e-5, "{n}");
        // Direction kept: same signs and ratios as the input prefix.
        assert!((out[3] / out[1] - v[3] / v[1]).abs() < 1e-4);
    }

    #[test]
    fn full_length_and_zero_vector() {
        assert_eq!(
            floats(&truncate(&bytes(&[0.0, 2.0]), 2).unwrap_or_default()),
            [0.0, 1.0]
        );
        assert_eq!(
            floats(&truncate(&bytes(&[0.0, 0.0, 1.0]), 2).unwrap_or_default()),
            [0.0, 0.0]
        );
    }

    #[test]
    fn bad_input() {
        assert_eq!(truncate(&[0; 7], 1), Err(EmbedError::Misaligned(7)));
        assert_eq!(
            truncate(&[0; 8], 0),
            Err(EmbedError::BadDimensions {
                dimensions: 0,
                available: 2
            })
        );
        assert_eq!(
            truncate(&[0; 8], 3),
            Err(EmbedError::BadDimensions {
                dimensions: 3,
                available: 2
            })
        );
        assert_eq!(
            truncate(&bytes(&[f32::NAN, 1.0]), 1),
            Err(EmbedError::NotFinite)
        );
        assert_eq!(
            truncate(&[], 1),
            Err(EmbedError::BadDimensions {
                dimensions: 1,
                available: 0
            })
        );
    }
}
