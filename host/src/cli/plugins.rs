//! `tandem plugins` (what each library is and can do) and `tandem entities` (discovery).

use serde::Serialize;
use tandem_core::plugin::PluginInfo;
use tandem_core::{Capabilities, EntitySchema};

use super::output;
use crate::context::Context;
use crate::error::{EXIT_FAILED, EXIT_OK};

/// What an endpoint using a plugin can do.
#[derive(Serialize)]
struct EndpointCaps {
    endpoint: String,
    target: bool,
    capabilities: Capabilities,
}

/// One plugin, as `plugins --json` prints it.
#[derive(Serialize)]
struct PluginOut {
    plugin: String,
    #[serde(flatten)]
    info: Option<PluginInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    endpoints: Vec<EndpointCaps>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
}

fn capability_names(c: &Capabilities) -> String {
    let names: Vec<&str> = [
        (c.cursors, "cursors"),
        (c.deletes, "deletes"),
        (c.days, "days"),
        (c.transactions, "transactions"),
        (c.idempotent_upsert, "idempotent_upsert"),
    ]
    .into_iter()
    .filter_map(|(on, n)| on.then_some(n))
    .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Loads every plugin of the manifest and describes it; exit 1 if one fails.
pub async fn plugins(ctx: &Context, json: bool) -> anyhow::Result<u8> {
    let mut out = Vec::new();
    for name in ctx.manifest.plugins.keys() {
        let mut p = PluginOut {
            plugin: name.clone(),
            info: None,
            endpoints: Vec::new(),
            errors: Vec::new(),
        };
        match ctx.plugin(name) {
            Err(e) => p.errors.push(format!("{e:#}")),
            Ok(plugin) => {
                p.info = Some(plugin.info().clone());
                for endpoint in ctx
                    .manifest
                    .endpoints
                    .values()
                    .filter(|e| &e.plugin == name)
                {
                    match ctx.endpoint(&endpoint.name).await {
                        Ok(open) => p.endpoints.push(EndpointCaps {
                            endpoint: endpoint.name.clone(),
                            target: open.endpoint.target.is_some(),
                            capabilities: open.capabilities,
                        }),
                        Err(e) => p.errors.push(format!("{e:#}")),
                    }
                }
            }
        }
        out.push(p);
    }
    let failed = out.iter().any(|p| !p.errors.is_empty());
    if json {
        output::json(&out)?;
    } else {
        if out.is_empty() {
            say!("{} declares no plugins", ctx.manifest.file);
        }
        for p in &out {
            match &p.info {
                Some(i) => {
                    say!(
                        "{} {} (type {}, abi {}, tandem-core {}, {})",
                        p.plugin,
                        i.version,
                        i.name,
                        i.abi_version,
                        i.sdk_version,
                        i.rustc_version
                    );
                    say!("  path: {}", i.path.display());
                }
                None => say!("{}", p.plugin),
            }
            for e in &p.endpoints {
                let role = if e.target {
                    "source and target"
                } else {
                    "source"
                };
                say!(
                    "  endpoint {} ({role}): {}",
                    e.endpoint,
                    capability_names(&e.capabilities)
                );
            }
            for e in &p.errors {
                say!("  error: {e}");
            }
        }
    }
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

/// Lists an endpoint's entities with their keys and fields.
pub async fn entities(ctx: &Context, endpoint: &str, json: bool) -> anyhow::Result<u8> {
    let open = ctx.endpoint(endpoint).await?;
    let entities: Vec<EntitySchema> = open.endpoint.source.entities().await?;
    if json {
        output::json(&entities)?;
        return Ok(EXIT_OK);
    }
    for e in &entities {
        say!("{} (key: {})", e.name, e.key.join(", "));
        let rows: Vec<Vec<String>> = e
            .fields
            .iter()
            .map(|f| {
                let kind = format!("{:?}", f.kind).to_lowercase();
                let null = if f.nullable { "nullable" } else { "" };
                vec![format!("  {}", f.name), kind, null.to_owned()]
            })
            .collect();
        output::table(&rows).iter().for_each(|l| say!("{l}"));
    }
    Ok(EXIT_OK)
}
