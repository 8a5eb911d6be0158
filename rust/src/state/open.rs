//! Creating or attaching to the state file. Many worker processes start at
//! once, so the header is checked and written under an exclusive `flock`;
//! the magic is written last, so a header without it was never finished.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapMut, MmapOptions};

use super::layout::*;
use super::Error;

/// Opens (creating if needed) and maps the file for `capacity` slots.
pub fn open(path: &Path, capacity: usize) -> Result<MmapMut, Error> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(Error::BadCapacity(capacity));
    }
    let total = file_len(capacity);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let _lock = Flock::exclusive(&file)?;

    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER_SIZE];
    if len >= HEADER_SIZE as u64 {
        file.read_exact_at(&mut header, 0)?;
    }
    // Empty, or left by a creator that died between set_len and the magic.
    let fresh = len == 0 || (len == total as u64 && header.iter().all(|&b| b == 0));
    if fresh {
        file.set_len(total as u64)?;
    } else {
        check_header(&header, len, capacity, total)?;
    }

    // SAFETY: the mapping is shared with other processes by design. All
    // concurrent access goes through atomics or the claim protocol in
    // `state.rs`; nobody truncates the file (the launcher deletes it, which
    // leaves existing mappings intact).
    let mut map = unsafe { MmapOptions::new().len(total).map_mut(&file)? };
    if fresh {
        write_header(&mut map, capacity);
    }
    Ok(map)
}

fn check_header(
    header: &[u8; HEADER_SIZE],
    len: u64,
    capacity: usize,
    total: usize,
) -> Result<(), Error> {
    if len < HEADER_SIZE as u64 {
        return Err(Error::Corrupt(format!(
            "{len} bytes, shorter than the header"
        )));
    }
    // Native endian, as the atomics that wrote it (the file never leaves the host).
    let u32_at = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&header[at..at + 4]);
        u32::from_ne_bytes(b)
    };
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_ne_bytes(b)
    };
    let magic = u64_at(H_MAGIC);
    if magic != MAGIC {
        return Err(Error::Corrupt(
            "bad magic (not a provocapi state file)".into(),
        ));
    }
    let found = (
        u32_at(H_VERSION),
        u32_at(H_SLOT_SIZE),
        u32_at(H_FIELDS),
        u32_at(H_KEY_MAX),
    );
    let want = (VERSION, SLOT_SIZE as u32, FIELDS as u32, KEY_MAX as u32);
    if found != want {
        return Err(Error::Mismatch(format!(
            "file has version/slot size/fields/key max {found:?}, this build expects {want:?}"
        )));
    }
    let cap = u64_at(H_CAPACITY);
    if cap != capacity as u64 {
        return Err(Error::Mismatch(format!(
            "file has capacity {cap}, asked for {capacity}"
        )));
    }
    if len != total as u64 {
        return Err(Error::Corrupt(format!(
            "{len} bytes, the header says {total}"
        )));
    }
    Ok(())
}

fn write_header(map: &mut MmapMut, capacity: usize) {
    let base = map.as_mut_ptr();
    // SAFETY: the mapping is page-aligned and at least HEADER_SIZE long; every
    // offset below is naturally aligned for its type.
    unsafe {
        let u32_at = |at: usize| AtomicU32::from_ptr(base.add(at).cast());
        let u64_at = |at: usize| AtomicU64::from_ptr(base.add(at).cast());
        u32_at(H_VERSION).store(VERSION, Ordering::Relaxed);
        u32_at(H_SLOT_SIZE).store(SLOT_SIZE as u32, Ordering::Relaxed);
        u64_at(H_CAPACITY).store(capacity as u64, Ordering::Relaxed);
        u32_at(H_FIELDS).store(FIELDS as u32, Ordering::Relaxed);
        u32_at(H_KEY_MAX).store(KEY_MAX as u32, Ordering::Relaxed);
        u64_at(H_MAGIC).store(MAGIC, Ordering::Release);
    }
}

/// Exclusive `flock` on the file, released on drop (also on error paths).
struct Flock<'a>(&'a File);

impl<'a> Flock<'a> {
    fn exclusive(file: &'a File) -> io::Result<Self> {
        loop {
            // SAFETY: plain syscall on a descriptor we own for the call's duration.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Flock(file));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        // SAFETY: as above; closing the file would release the lock anyway.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
