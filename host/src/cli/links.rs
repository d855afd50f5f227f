//! `tandem link`, `unlink`, `disable` and `enable`: manual changes to a pair's links.

use clap::Args;
use tandem_core::Key;
use tandem_core::store::Side;

use super::SideArg;
use crate::context::Context;
use crate::error::{EXIT_OK, config_error};

/// `PAIR KEY [--side a|b]`.
#[derive(Debug, Args)]
pub struct SideKey {
    /// The pair.
    pair: String,
    /// The record's key.
    key: String,
    /// The side the key is on.
    #[arg(long, value_enum, default_value = "a")]
    side: SideArg,
}

/// Pairs two records by hand.
pub async fn link(ctx: &Context, pair: &str, a_key: &str, b_key: &str) -> anyhow::Result<u8> {
    ctx.manifest.pair(pair)?;
    let id = ctx
        .store()
        .await?
        .link(pair, &Key::new(a_key), &Key::new(b_key))
        .await?;
    say!("linked a key {a_key} with b key {b_key} in pair {pair} (link {id})");
    Ok(EXIT_OK)
}

/// Unpairs a record: by its A key, or by its B key when no link has that A key.
pub async fn unlink(ctx: &Context, pair: &str, key: &str) -> anyhow::Result<u8> {
    ctx.manifest.pair(pair)?;
    let store = ctx.store().await?;
    for side in [Side::A, Side::B] {
        if store.unlink(pair, side, &Key::new(key)).await? {
            say!(
                "unlinked {} key {key} in pair {pair}; both records are new on the next run",
                side.as_str()
            );
            return Ok(EXIT_OK);
        }
    }
    Err(config_error(format!(
        "pair {pair}: no link has key {key:?} on side a or b"
    )))
}

/// Turns synchronization of one record off or on.
pub async fn set_disabled(ctx: &Context, args: SideKey, disabled: bool) -> anyhow::Result<u8> {
    ctx.manifest.pair(&args.pair)?;
    let side = Side::from(args.side);
    ctx.store()
        .await?
        .set_disabled(&args.pair, side, &Key::new(&args.key), disabled)
        .await?;
    let verb = if disabled { "disabled" } else { "enabled" };
    say!(
        "{verb} sync of {} key {} in pair {}",
        side.as_str(),
        args.key,
        args.pair
    );
    Ok(EXIT_OK)
}
