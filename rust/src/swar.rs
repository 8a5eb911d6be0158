//! Eight bytes at a time in one `u64` ("SIMD within a register"), for the
//! JSON string scanners: the usual text is skipped a word at a time, and a
//! word with a byte that needs a look says which byte comes first.
//!
//! Each test sets the high bit of the lanes that match. Its borrows run from
//! the low lanes upward only, so a lane above a match may be set falsely but
//! the **lowest** set lane is always a true match: `first_lane` of a mask (or
//! of several masks OR'd together) is exact, and the bytes before it need no
//! look. Scanning on byte by byte from a flagged word instead re-tests the
//! word at every byte up to the match (about 250 instructions a JSON key).

pub const ONES: u64 = 0x0101_0101_0101_0101;
pub const HIGH: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `b` from `at`, little-endian (lane 0 = `b[at]`); None near the end.
#[inline(always)]
pub fn load(b: &[u8], at: usize) -> Option<u64> {
    let chunk = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?))
}

/// Lanes whose byte is below `n` (`n` <= 0x80).
#[inline(always)]
pub fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH
}

/// Lanes whose byte is `b`.
#[inline(always)]
pub fn equal(w: u64, b: u8) -> u64 {
    below(w ^ (ONES * u64::from(b)), 1)
}

/// Lanes whose byte is past ASCII.
#[inline(always)]
pub fn non_ascii(w: u64) -> u64 {
    w & HIGH
}

/// The index of the lowest set lane of a non-zero mask.
#[inline(always)]
pub fn first_lane(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every lane, with every kind of byte above it: the
    /// lowest flagged lane is the first true match, and a word with no match
    /// has no lane set.
    #[test]
    fn the_lowest_flagged_lane_is_the_first_match() {
        let fillers = [b'a', b' ', 0x00, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xff];
        let is = |x: u8| x < 0x20 || x == b'"' || x == b'\\' || x >= 0x80;
        let mask = |w: u64| below(w, 0x20) | equal(w, b'"') | equal(w, b'\\') | non_ascii(w);
        for lane in 0..8 {
            for b in 0..=255u8 {
                for &above in &fillers {
                    let mut bytes = [b'a'; 8];
                    bytes[lane] = b;
                    for x in bytes.iter_mut().skip(lane + 1) {
                        *x = above;
                    }
                    let want = bytes.iter().position(|&x| is(x));
                    let m = mask(u64::from_le_bytes(bytes));
                    assert_eq!((m != 0).then(|| first_lane(m)), want, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn load_reads_little_endian_and_stops_at_the_end() {
        let b = b"0123456789";
        assert_eq!(load(b, 2).map(|w| w as u8), Some(b'2'));
        assert_eq!(load(b, 2).map(|w| (w >> 56) as u8), Some(b'9'));
        assert_eq!(load(b, 3), None);
        assert_eq!(load(b, usize::MAX), None);
    }
}
