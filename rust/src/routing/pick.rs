//! Choosing a worker: least loaded (exact scan, or two random choices), then
//! adapter and prefix affinity, each bounded by load.
//!
//! Load is what the gateway has in flight on a worker plus what the worker
//! reports queued; KV-cache use breaks ties; weight divides it. Affinity may
//! only send a request to a worker whose load stays within `load_factor`
//! times the mean (consistent hashing with bounded loads), so a hot prefix or
//! adapter spills over instead of making a hot spot.

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
    /// Orders by (load + 1 + kv/1000) / weight without floats or overflow.
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
    let kv = t.get(w.load_slot, F_KV_PERMILLE)?.clamp(0, 1000);
    Ok(Read::Ready(Cand {
        index,
        load: in_flight.min(1 << 40) + queued,
        kv,
        weight: w.weight,
    }))
}

pub(super) fn choose(pool: &Pool, ask: Ask) -> Result<Choice, Error> {
    let n = pool.workers.len();
    if n == 0 {
        return Ok(Choice::NoneReady);
    }
    let turn = pool.next_turn();
    if pool.policy == Policy::TwoChoices && ask.adapter <= 0 && ask.prefix == 0 && n > 1 {
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
        return Ok(if full { Choice::Full } else { Choice::NoneReady });
    }
    if ask.adapter <= 0 && ask.prefix == 0 {
        return Ok(Choice::Worker(lightest(cands.iter()).index));
    }
    // Affinity: only workers within the load bound qualify.
    let total: i64 = cands.iter().map(|c| c.load).sum();
    let bound = (pool.load_factor * (total + 1) as f64 / cands.len() as f64).ceil() as i64;
    let fits = |c: &&Cand| c.load < bound;
    if ask.adapter > 0 {
        let mut holders = [Cand::default(); MAX_WORKERS];
        let mut with_room = [Cand::default(); MAX_WORKERS];
        let (mut h, mut r) = (0, 0);
        for c in cands.iter().filter(fits) {
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
                return Ok(Choice::Worker(prefer(pool, set, ask.prefix)));
            }
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
    Ok(Choice::Worker(prefer(pool, &ok[..m], ask.prefix)))
}

/// The prefix's home among `set` (highest rendezvous score), or the lightest.
fn prefer(pool: &Pool, set: &[Cand], prefix: u64) -> usize {
    if prefix == 0 {
        return lightest(set.iter()).index;
    }
    let mut best = set[0];
    let mut best_score = 0u64;
    for c in set {
        // The load slot identifies a worker the same way in every process.
        let score = mix(prefix ^ mix(pool.workers[c.index].load_slot as u64 + 1));
        if score >= best_score {
            best_score = score;
            best = *c;
        }
    }
    best.index
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
        (Read::Ready(x), Read::Ready(y)) => Some(if y.lighter_than(&x) { y.index } else { x.index }),
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
pub fn prefix_hash(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h).max(1)
}
