//! Random programs: edits on both sides between syncs, faults, undo, manual resolutions.

use tandem_core::ResolverKind;
use tandem_core::engine::{Mode, OnCrash};
use tandem_core::store::Side;

/// A small deterministic generator (SplitMix64): a seed always gives the
/// same program, on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True `percent` times out of a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The synced fields besides the key (`id`).
pub const FIELDS: [&str; 4] = ["name", "city", "note", "email"];

/// Text values: unicode, empty, quoting, line breaks, padding, long.
const TEXTS: [&str; 12] = [
    "Ann",
    "Bob",
    "Zoë",
    "東京",
    "🎉 fête",
    "",
    " padded ",
    "a,b \"q\"",
    "line1\nline2",
    "Ann",
    "Oslo",
    "LONG",
];

/// One value a program writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    Null,
    Text(u8),
}

impl Val {
    /// The text, or `None` for null.
    pub fn text(self, salt: u64) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Text(i) => {
                let t = TEXTS[i as usize % TEXTS.len()];
                Some(if t == "LONG" {
                    format!("{}{salt}", "long value ".repeat(30))
                } else {
                    t.to_owned()
                })
            }
        }
    }
}

/// A fault injected into one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The side's target fails once it has taken `n` more changes.
    FailAfter { side: Side, n: u8 },
    /// Reading the side fails after `after` batches.
    ReadError { side: Side, after: u8 },
    /// A stop is asked for once `after` batches were read from B.
    Stop { after: u8 },
    /// The process dies while the side applies its first batch.
    KillInApply { side: Side },
    /// The process dies right after the side's target committed.
    KillAfterCommit { side: Side },
}

/// One step of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Inserts record `id` on a side, or updates the given fields when it
    /// is there. In email pairs, `email` is always the identity's address
    /// (spelled one of several ways).
    Put {
        side: Side,
        id: u8,
        fields: Vec<(u8, Val)>,
    },
    /// Deletes record `id` on a side (nothing when it is not there).
    Delete { side: Side, id: u8 },
    /// Gives record `id` on a side the key `to` (key pairs only).
    Rekey { side: Side, id: u8, to: u8 },
    /// A sync.
    Sync {
        mode: Option<Mode>,
        force: bool,
        fault: Option<Fault>,
    },
    /// Undoes the last sync when nothing was edited since.
    Undo,
    /// A person resolves the `nth` pending conflict.
    Resolve { nth: u8, take_a: bool },
    /// Two syncs of the pair at once.
    Concurrent,
}

/// How a world's pair is configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub mode: Mode,
    pub resolver: ResolverKind,
    /// Pairs by email (`match = fields ["email"]`) instead of by key.
    pub by_email: bool,
    pub batch_size: usize,
    pub on_crash: OnCrash,
    pub max_delete: f64,
}

/// What a pair's sides can hold, so that programs only write what both can.
#[derive(Debug, Clone, Copy)]
pub struct Abilities {
    /// Both sides keep null apart from "".
    pub nulls: bool,
    /// Both sides keep a record's modification time.
    pub modified: bool,
    /// The sides can be killed in process (their state outlives a dropped run).
    pub kills: bool,
}

const IDS: u64 = 8;

impl Config {
    pub fn random(rng: &mut Rng) -> Config {
        Config {
            mode: rng.pick(&[
                Mode::TwoWay,
                Mode::TwoWay,
                Mode::Full,
                Mode::Send,
                Mode::Receive,
            ]),
            resolver: rng.pick(&[
                ResolverKind::AWins,
                ResolverKind::BWins,
                ResolverKind::Newest,
                ResolverKind::FieldMerge,
                ResolverKind::Manual,
            ]),
            by_email: rng.chance(30),
            batch_size: rng.pick(&[1, 2, 3, 1000]),
            on_crash: rng.pick(&[OnCrash::Resume, OnCrash::Rollback]),
            max_delete: rng.pick(&[100.0, 100.0, 100.0, 50.0]),
        }
    }
}

fn side(rng: &mut Rng) -> Side {
    rng.pick(&[Side::A, Side::B])
}

fn val(rng: &mut Rng, ab: &Abilities) -> Val {
    if ab.nulls && rng.chance(12) {
        Val::Null
    } else {
        Val::Text(rng.below(TEXTS.len() as u64) as u8)
    }
}

/// A random program of `len` steps.
pub fn generate(rng: &mut Rng, cfg: &Config, ab: &Abilities, len: usize) -> Vec<Op> {
    let mut ops = Vec::with_capacity(len);
    while ops.len() < len {
        let roll = rng.below(100);
        let op = match roll {
            0..=44 => {
                let n = if rng.chance(30) {
                    FIELDS.len() as u64
                } else {
                    1 + rng.below(2)
                };
                let mut fields = Vec::new();
                for _ in 0..n {
                    let f = rng.below(FIELDS.len() as u64) as u8;
                    if !fields.iter().any(|(g, _)| *g == f) {
                        fields.push((f, val(rng, ab)));
                    }
                }
                Op::Put {
                    side: side(rng),
                    id: rng.below(IDS) as u8,
                    fields,
                }
            }
            45..=56 => Op::Delete {
                side: side(rng),
                id: rng.below(IDS) as u8,
            },
            57..=59 if !cfg.by_email => Op::Rekey {
                side: side(rng),
                id: rng.below(IDS) as u8,
                to: rng.below(IDS + 2) as u8,
            },
            60..=86 => {
                let mode = if rng.chance(25) {
                    Some(rng.pick(&[Mode::TwoWay, Mode::Full, Mode::Send, Mode::Receive]))
                } else {
                    None
                };
                let fault = if rng.chance(22) {
                    let s = side(rng);
                    Some(match rng.below(5) {
                        0 => Fault::FailAfter {
                            side: s,
                            n: rng.below(3) as u8,
                        },
                        1 => Fault::ReadError {
                            side: s,
                            after: rng.below(2) as u8,
                        },
                        2 => Fault::Stop {
                            after: rng.below(2) as u8,
                        },
                        3 if ab.kills => Fault::KillInApply { side: s },
                        4 if ab.kills => Fault::KillAfterCommit { side: s },
                        _ => Fault::FailAfter { side: s, n: 0 },
                    })
                } else {
                    None
                };
                Op::Sync {
                    mode,
                    force: rng.chance(12),
                    fault,
                }
            }
            87..=90 => Op::Undo,
            91..=96 => Op::Resolve {
                nth: rng.below(3) as u8,
                take_a: rng.chance(50),
            },
            97..=99 => Op::Concurrent,
            _ => continue,
        };
        ops.push(op);
    }
    // Every program ends settled.
    ops.push(Op::Sync {
        mode: None,
        force: false,
        fault: None,
    });
    ops
}
