//! Choosing a worker: least loaded (exact scan, or two random choices), then
//! adapter and prefix affinity, each bounded by load.
//!
//! Load is what the gateway has in flight on a worker plus what the worker
//! reports queued; KV-cache use near full counts a little; weight divides it.
//! Affinity (the worker holding the adapter, the prefix's last worker) may only
//! be followed while that worker's load stays under `load_factor` times the
//! mean, so a hot prefix or adapter spills over instead of making a hot spot.

use super::{lora, Ask, Pool, F_HEALTH, F_IN_FLIGHT, F_KV_PERMILLE, F_MAX_CONCURRENCY, F_QUEUED};
use super::{HEALTH_UP, MAX_WORKERS};
use crate::state::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Read every worker and take the least loaded (ties rotate).
    Scan,
    /// Read two random workers and take the less loaded (scan when they don't qualify).
    TwoChoices,
}

impl Policy {
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "scan" => Some(Policy::Scan),
            "two_choices" => Some(Policy::TwoChoices),
            _ => None,
        }
    }
}

/// KV-cache use (thousandths) above which it counts against a worker.
const KV_BUSY: i64 = 800;

pub(super) enum Choice {
    Worker(usize),
    Full,
    NoneReady,
}

#[derive(Clone, Copy, Default)]
struct Cand {
    index: usize,
    load: i64,
    kv: i64,
    weight: u32,
}

impl Cand {
    /// Orders by (load + 1 + kv/1000) / weight without floats or overflow; kv is
    /// the use above `KV_BUSY`, so up to 0.2 of a request.
    fn lighter_than(&self, other: &Cand) -> bool {
        let a = i128::from((self.load + 1) * 1000 + self.kv) * i128::from(other.weight);
        let b = i128::from((other.load + 1) * 1000 + other.kv) * i128::from(self.weight);
        a < b
    }
}

enum Read {
    Skip,
    Full,
    Ready(Cand),
}

fn read(pool: &Pool, index: usize, ask: Ask) -> Result<Read, Error> {
    if ask.exclude & (1u64 << index) != 0 {
        return Ok(Read::Skip);
    }
    let w = &pool.workers[index];
    let t = &pool.table;
    if t.get(w.load_slot, F_HEALTH)? != HEALTH_UP {
        return Ok(Read::Skip);
    }
    let in_flight = t.get(w.load_slot, F_IN_FLIGHT)?.max(0);
    let cap = t.get(w.load_slot, F_MAX_CONCURRENCY)?;
    if cap > 0 && in_flight >= cap {
        return Ok(Read::Full);
    }
    let queued = t.get(w.load_slot, F_QUEUED)?.clamp(0, 1 << 40);
    // KV-cache use only matters once it nears full (preemption, no room to
    // reuse prefixes); below that its small, stale differences would bias ties.
    let kv = (t.get(w.load_slot, F_KV_PERMILLE)?.clamp(0, 1000) - KV_BUSY).max(0);
    Ok(Read::Ready(Cand {
        index,
        load: in_flight.min(1 << 40) + queued,
        kv,
        weight: w.weight,
    }))
}

pub(super) fn choose(pool: &Pool, ask: Ask, home: Option<usize>) -> Result<Choice, Error> {
    let n = pool.workers.len();
    if n == 0 {
        return Ok(Choice::NoneReady);
    }
    let turn = pool.next_turn();
    if pool.policy == Policy::TwoChoices && ask.adapter <= 0 && home.is_none() && n > 1 {
        if let Some(i) = two_choices(pool, ask, turn)? {
            return Ok(Choice::Worker(i));
        }
    }
    let mut cands = [Cand::default(); MAX_WORKERS];
    let mut len = 0;
    let mut full = false;
    let start = turn % n;
    for k in 0..n {
        match read(pool, (start + k) % n, ask)? {
            Read::Skip => {}
            Read::Full => full = true,
            Read::Ready(c) => {
                cands[len] = c;
                len += 1;
            }
        }
    }
    let cands = &cands[..len];
    if cands.is_empty() {
        return Ok(if full {
            Choice::Full
        } else {
            Choice::NoneReady
        });
    }
    if ask.adapter <= 0 && home.is_none() {
        return Ok(Choice::Worker(lightest(cands.iter()).index));
    }
    // Affinity: only workers within the load bound qualify.
    let total: i64 = cands.iter().map(|c| c.load).sum();
    // At light load the mean is tiny: a worker with one call in flight always qualifies.
    let bound =
        |factor: f64| ((factor * (total + 1) as f64 / cands.len() as f64).ceil() as i64).max(2);
    let (bound, adapter_bound) = (bound(pool.load_factor), bound(pool.adapter_load_factor));
    let fits = |c: &&Cand| c.load < bound;
    if ask.adapter > 0 {
        let mut holders = [Cand::default(); MAX_WORKERS];
        let mut with_room = [Cand::default(); MAX_WORKERS];
        let (mut h, mut r) = (0, 0);
        for c in cands.iter().filter(|c| c.load < adapter_bound) {
            let w = &pool.workers[c.index];
            if lora::holds(&pool.table, w.lora_slot, w.max_loras, ask.adapter)? {
                holders[h] = *c;
                h += 1;
            } else if lora::count(&pool.table, w.lora_slot, w.max_loras)? < w.max_loras {
                with_room[r] = *c;
                r += 1;
            }
        }
        for set in [&holders[..h], &with_room[..r]] {
            if !set.is_empty() {
                return Ok(Choice::Worker(prefer(set, home)));
            }
        }
        // Every worker within bound is full of other adapters: evict the
        // coldest adapter of the pool, the one least likely to be asked next.
        let mut best: Option<(i64, Cand)> = None;
        for c in cands.iter().filter(fits) {
            let w = &pool.workers[c.index];
            let age = lora::oldest(&pool.table, w.lora_slot, w.max_loras)?;
            let better = match best {
                None => true,
                Some((a, b)) => age < a || (age == a && c.lighter_than(&b)),
            };
            if better {
                best = Some((age, *c));
            }
        }
        if let Some((_, c)) = best {
            return Ok(Choice::Worker(c.index));
        }
    }
    let mut ok = [Cand::default(); MAX_WORKERS];
    let mut m = 0;
    for c in cands.iter().filter(fits) {
        ok[m] = *c;
        m += 1;
    }
    if m == 0 {
        return Ok(Choice::Worker(lightest(cands.iter()).index));
    }
    Ok(Choice::Worker(prefer(&ok[..m], home)))
}

/// The prefix's home when it is in `set`, else the lightest of `set`.
fn prefer(set: &[Cand], home: Option<usize>) -> usize {
    match home {
        Some(h) if set.iter().any(|c| c.index == h) => h,
        _ => lightest(set.iter()).index,
    }
}

fn lightest<'a>(mut it: impl Iterator<Item = &'a Cand>) -> Cand {
    let mut best = it.next().copied().unwrap_or_default();
    for c in it {
        if c.lighter_than(&best) {
            best = *c;
        }
    }
    best
}

fn two_choices(pool: &Pool, ask: Ask, turn: usize) -> Result<Option<usize>, Error> {
    let n = pool.workers.len() as u64;
    let r = mix(turn as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let a = (r % n) as usize;
    let b = ((a as u64 + 1 + (r >> 32) % (n - 1)) % n) as usize;
    let (ra, rb) = (read(pool, a, ask)?, read(pool, b, ask)?);
    Ok(match (ra, rb) {
        (Read::Ready(x), Read::Ready(y)) => {
            Some(if y.lighter_than(&x) { y.index } else { x.index })
        }
        (Read::Ready(x), _) | (_, Read::Ready(x)) => Some(x.index),
        _ => None,
    })
}

/// splitmix64's finaliser: a stable, well-spread 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of a conversation prefix (never 0: 0 means none).
///
/// Eight bytes a step (little-endian words, so every platform agrees): a prefix is
/// up to `prefix_bytes` (2 KB) hashed on every routed call, and a byte at a time
/// (FNV-1a) cost about 1 ns a byte. Each step is a bijection of the state for a
/// given word and of the word for a given state; the length seeds the state (a
/// zero-padded tail stays apart from real zeros) and `mix` spreads the result.
pub fn prefix_hash(data: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, w: u64| (h.rotate_left(23) ^ w).wrapping_mul(K);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (data.len() as u64);
    let mut words = data.chunks_exact(8);
    for chunk in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        h = step(h, u64::from_le_bytes(w));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        h = step(h, u64::from_le_bytes(w));
    }
    mix(h).max(1)
}
