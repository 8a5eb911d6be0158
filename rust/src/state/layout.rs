//! Byte layout of the state file. Every process maps the same file, so these
//! numbers are a wire format: change any of them and bump `VERSION`.
//!
//! ```text
//! 0    header (64 bytes): magic u64 | version u32 | slot_size u32 | capacity u64
//!                         | fields u32 | key_max u32 | zero padding
//! 64   slot 0 (512 bytes), slot 1, ... slot capacity-1
//!
//! slot: 0 state u32 (empty / claiming / ready) | 4 key_len u32 | 8 hash u64
//!       16..256 key bytes (UTF-8, up to KEY_MAX)
//!       256..512 FIELDS x i64, used as AtomicI64
//! ```
//!
//! Slots start on 64-byte boundaries and the fields sit on their own four
//! cache lines, so writers of counters never dirty the lines that lookups read.

/// "PVCSTATE" little-endian; written last when a file is initialised.
pub const MAGIC: u64 = u64::from_le_bytes(*b"PVCSTATE");
pub const VERSION: u32 = 1;

pub const HEADER_SIZE: usize = 64;
pub const SLOT_SIZE: usize = 512;
pub const FIELDS: usize = 32;
pub const KEY_MAX: usize = 240;

/// A slot's key bytes start here.
pub const KEY_OFFSET: usize = 16;
/// A slot's i64 fields start here.
pub const FIELDS_OFFSET: usize = 256;

/// Keeps the file under 2 GiB and `hash % capacity` in range of u64 maths.
pub const MAX_CAPACITY: usize = 1 << 22;

// Header offsets.
pub const H_MAGIC: usize = 0;
pub const H_VERSION: usize = 8;
pub const H_SLOT_SIZE: usize = 12;
pub const H_CAPACITY: usize = 16;
pub const H_FIELDS: usize = 24;
pub const H_KEY_MAX: usize = 28;

// Slot offsets and states.
pub const S_STATE: usize = 0;
pub const S_KEY_LEN: usize = 4;
pub const S_HASH: usize = 8;
pub const EMPTY: u32 = 0;
pub const CLAIMING: u32 = 1;
pub const READY: u32 = 2;

const _: () = assert!(KEY_OFFSET + KEY_MAX <= FIELDS_OFFSET);
const _: () = assert!(FIELDS_OFFSET + FIELDS * 8 == SLOT_SIZE);
const _: () = assert!(HEADER_SIZE % 64 == 0 && SLOT_SIZE % 64 == 0);

/// Size of the whole file for `capacity` slots.
pub fn file_len(capacity: usize) -> usize {
    HEADER_SIZE + capacity * SLOT_SIZE
}

/// Byte offset of a slot from the start of the mapping.
pub fn slot_offset(slot: usize) -> usize {
    HEADER_SIZE + slot * SLOT_SIZE
}

/// FNV-1a with a murmur3 finaliser: stable across processes and builds (no
/// per-process random seed), and the finaliser spreads FNV's weak low bits
/// before `% capacity`.
pub fn hash_key(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}
