//! `tandem check`: the manifest, every plugin, every endpoint, every pair's entities, the store.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use tandem_core::EntitySchema;

use super::output;
use crate::context::{Context, redact_url};
use crate::error::{EXIT_FAILED, EXIT_OK};

/// One thing checked.
#[derive(Serialize)]
struct Check {
    what: &'static str,
    name: String,
    ok: bool,
    message: String,
}

/// The checks so far.
#[derive(Default, Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Check>,
}

impl Report {
    fn push(
        &mut self,
        what: &'static str,
        name: impl Into<String>,
        result: Result<String, String>,
    ) {
        let (ok, message) = match result {
            Ok(m) => (true, m),
            Err(m) => (false, m),
        };
        self.checks.push(Check {
            what,
            name: name.into(),
            ok,
            message,
        });
    }
}

/// Runs every check and lists the results; exit 1 if any failed.
pub async fn check(manifest: &Path, json: bool) -> anyhow::Result<u8> {
    let mut report = Report::default();
    let file = manifest.display().to_string();
    match Context::load(manifest) {
        // The message names the file already.
        Err(e) => report.push("manifest", "", Err(format!("{e:#}"))),
        Ok(ctx) => {
            let m = &ctx.manifest;
            let count = |n: usize, word: &str| output::plural(n as u64, word);
            let summary = format!(
                "{}, {}, {}",
                count(m.plugins.len(), "plugin"),
                count(m.endpoints.len(), "endpoint"),
                count(m.pairs.len(), "pair")
            );
            report.push("manifest", file, Ok(summary));
            check_all(&ctx, &mut report).await;
        }
    }
    report.ok = report.checks.iter().all(|c| c.ok);
    if json {
        output::json(&report)?;
    } else {
        for c in &report.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            let name = if c.name.is_empty() {
                String::new()
            } else {
                format!(" {}", c.name)
            };
            say!("{mark}  {}{name}: {}", c.what, c.message);
        }
        let problems = report.checks.iter().filter(|c| !c.ok).count();
        match problems {
            0 => say!("no problems"),
            n => say!("{}", output::plural(n as u64, "problem")),
        }
    }
    Ok(if report.ok { EXIT_OK } else { EXIT_FAILED })
}

async fn check_all(ctx: &Context, report: &mut Report) {
    for name in ctx.manifest.plugins.keys() {
        let result = ctx.plugin(name).map(|p| {
            let i = p.info();
            format!(
                "{} {} (abi {}) from {}",
                i.name,
                i.version,
                i.abi_version,
                i.path.display()
            )
        });
        report.push("plugin", name, result.map_err(|e| format!("{e:#}")));
    }
    let mut entities: HashMap<&str, Vec<EntitySchema>> = HashMap::new();
    for name in ctx.manifest.endpoints.keys() {
        let result = match ctx.endpoint(name).await {
            Err(e) => Err(format!("{e:#}")),
            Ok(open) => match open.endpoint.source.entities().await {
                Err(e) => Err(format!("discovering entities: {e}")),
                Ok(list) => {
                    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
                    let message = format!(
                        "{} ({})",
                        output::plural(list.len() as u64, "entity"),
                        names.join(", ")
                    );
                    entities.insert(name, list);
                    Ok(message)
                }
            },
        };
        let prefix = format!("endpoint {name}: ");
        let result = result.map_err(|m| m.strip_prefix(&prefix).map(str::to_owned).unwrap_or(m));
        report.push("endpoint", name, result);
    }
    for (name, pair) in &ctx.manifest.pairs {
        let mut problems = Vec::new();
        for (side, endpoint, entity) in [
            ("a", &pair.a, &pair.config.a_entity),
            ("b", &pair.b, &pair.config.b_entity),
        ] {
            // An endpoint that failed to open is reported above.
            if let Some(list) = entities.get(endpoint.as_str())
                && !list.iter().any(|e| &e.name == entity)
            {
                problems.push(format!(
                    "side {side}: endpoint {endpoint} has no entity {entity:?}"
                ));
            }
        }
        let result = if problems.is_empty() {
            Ok(format!(
                "{} {} -> {} {}",
                pair.a, pair.config.a_entity, pair.b, pair.config.b_entity
            ))
        } else {
            Err(problems.join("; "))
        };
        report.push("pair", name, result);
    }
    let store = ctx
        .store()
        .await
        .map(|s| format!("{} at {}", s.backend(), redact_url(&ctx.manifest.store_url)));
    report.push("store", "", store.map_err(|e| format!("{e:#}")));
}
