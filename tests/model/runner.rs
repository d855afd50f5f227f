//! Runs worlds of one pair: seeds, programs, the shrinker, the closing
//! figures.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use crate::known;
use crate::program::{self, Config, Op, Rng};
use crate::world::{Failure, Kit, World};

/// Builds a pair's two sides for one world, in a temporary folder.
pub type MakeKit = fn(Config, std::path::PathBuf) -> Pin<Box<dyn Future<Output = Kit>>>;

/// Steps in a generated program.
const PROGRAM_LEN: usize = 40;

struct Outcome {
    result: Result<(), Failure>,
    rounds: u64,
    seen: BTreeMap<&'static str, u64>,
}

async fn run_ops(make: MakeKit, cfg: Config, ops: &[Op]) -> Outcome {
    // In memory where the machine has it: the store's syncs cost nothing.
    let shm = std::path::Path::new("/dev/shm");
    let dir = match shm.is_dir() {
        true => tempfile::tempdir_in(shm),
        false => tempfile::tempdir(),
    }
    .expect("a temporary folder");
    let kit = make(cfg, dir.path().to_owned()).await;
    let mut world = World::new(cfg, kit, dir.path()).await;
    let mut result = Ok(());
    for op in ops {
        if let Err(f) = world.step(op).await {
            result = Err(f);
            break;
        }
    }
    world.finish().await;
    Outcome {
        result,
        rounds: world.rounds,
        seen: world.seen.clone(),
    }
}

fn program(seed: u64, make_abilities: program::Abilities) -> (Config, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let cfg = Config::random(&mut rng);
    let ops = program::generate(&mut rng, &cfg, &make_abilities, PROGRAM_LEN);
    (cfg, ops)
}

/// Drops steps while the program still fails the same check.
async fn shrink(
    make: MakeKit,
    cfg: Config,
    mut ops: Vec<Op>,
    kind: &str,
    strict: bool,
) -> (Vec<Op>, Failure) {
    let mut last = run_ops(make, cfg, &ops)
        .await
        .result
        .expect_err("it failed");
    let mut tries = 0;
    let mut chunk = ops.len().div_ceil(2);
    while chunk >= 1 && tries < 400 {
        let mut start = 0;
        let mut progressed = false;
        while start < ops.len() && tries < 400 {
            let end = (start + chunk).min(ops.len());
            let mut candidate = ops.clone();
            candidate.drain(start..end);
            tries += 1;
            match run_ops(make, cfg, &candidate).await.result {
                Err(f) if f.kind == kind && (strict || known::matches(&cfg, &f).is_none()) => {
                    ops = candidate;
                    last = f;
                    progressed = true;
                }
                _ => start += chunk,
            }
        }
        if !progressed {
            chunk /= 2;
        }
    }
    (ops, last)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn seed_for(pair: &str, world: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pair.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(h ^ world.wrapping_mul(0x9e37_79b9_7f4a_7c15)).next()
}

/// Runs worlds of a pair until `default_rounds` syncs (or
/// `TANDEM_MODEL_ROUNDS`) were checked.
pub fn drive(pair: &str, make: MakeKit, abilities: program::Abilities, default_rounds: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let strict = std::env::var("TANDEM_MODEL_STRICT").is_ok_and(|v| v == "1");
    let started = Instant::now();
    let seeds: Box<dyn Iterator<Item = u64>> = match env_u64("TANDEM_MODEL_SEED") {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new((0..).map(|w| seed_for(pair, w))),
    };
    let target = env_u64("TANDEM_MODEL_ROUNDS").unwrap_or(default_rounds);
    let (mut rounds, mut worlds) = (0u64, 0u64);
    let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut known: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    // Counts every failure by the bug it is (or its kind) and goes on.
    let survey = std::env::var("TANDEM_MODEL_SURVEY").is_ok_and(|v| v == "1");
    for seed in seeds {
        if rounds >= target {
            break;
        }
        let (cfg, ops) = program(seed, abilities);
        let out = rt.block_on(run_ops(make, cfg, &ops));
        worlds += 1;
        rounds += out.rounds;
        for (k, n) in out.seen {
            *seen.entry(k).or_default() += n;
        }
        let Err(failure) = out.result else { continue };
        let bug = known::matches(&cfg, &failure);
        if survey {
            let label = bug.map_or_else(|| format!("unknown: {}", failure.kind), str::to_owned);
            known.entry(label).or_default().push(seed);
            continue;
        }
        if !strict && let Some(bug) = bug {
            known.entry(bug.to_owned()).or_default().push(seed);
            continue;
        }
        let (small, last) = rt.block_on(shrink(make, cfg, ops, &failure.kind, strict));
        let steps: Vec<String> = small.iter().map(|op| format!("  {op:?}")).collect();
        panic!(
            "{pair}: {} after {rounds} rounds\n  {}\nreplay: TANDEM_MODEL_SEED={seed} cargo test -p tandem-e2e --test {} {pair}\nconfig: {cfg:?}\nshrunk to {} steps:\n{}\nthat fails with: {}: {}\nabout {:?}, where {:?}",
            failure.kind,
            failure.detail,
            env!("CARGO_CRATE_NAME"),
            small.len(),
            steps.join("\n"),
            last.kind,
            last.detail,
            failure.idents,
            failure.context
        );
    }
    let open: usize = known.values().map(Vec::len).sum();
    println!(
        "{pair}: {worlds} worlds, {rounds} sync rounds, 0 unexplained divergences ({open} worlds hit an open bug), {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (k, n) in &seen {
        println!("  {k}: {n}");
    }
    for (bug, seeds) in &known {
        println!(
            "  known open bug, {} worlds: {bug} (seeds {:?})",
            seeds.len(),
            &seeds[..seeds.len().min(5)]
        );
    }
}
