//! Secrets by reference: `*_env = "VAR"` and `*_file = "path"` keys replaced by their values.

use std::path::Path;

use serde_json::{Map, Value};

/// Where a secret is looked up; tests supply their own environment.
pub trait Lookup {
    /// The value of an environment variable.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Replaces, at any depth of `config`, each key `NAME_env` by `NAME`
/// holding the environment variable's value, and each key `NAME_file` by
/// `NAME` holding the file's contents, trimmed (a relative path is relative
/// to `base_dir`). Errors name the endpoint, the key and the variable or
/// path, never a value.
pub fn resolve(
    endpoint: &str,
    config: &mut Value,
    base_dir: &Path,
    env: &dyn Lookup,
) -> Result<(), String> {
    let Value::Object(map) = config else {
        return Ok(());
    };
    resolve_map(endpoint, "", map, base_dir, env)
}

fn resolve_map(
    endpoint: &str,
    prefix: &str,
    map: &mut Map<String, Value>,
    base_dir: &Path,
    env: &dyn Lookup,
) -> Result<(), String> {
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let full = format!("{prefix}{key}");
        let by_env = key.strip_suffix("_env").filter(|k| !k.is_empty());
        let by_file = key.strip_suffix("_file").filter(|k| !k.is_empty());
        let Some(name) = by_env.or(by_file) else {
            if let Some(Value::Object(inner)) = map.get_mut(&key) {
                resolve_map(endpoint, &format!("{full}."), inner, base_dir, env)?;
            }
            continue;
        };
        let name = name.to_owned();
        let err = |m: String| format!("endpoint {endpoint}: {full}: {m}");
        let Some(Value::String(reference)) = map.remove(&key) else {
            let what = if by_env.is_some() {
                "an environment variable name"
            } else {
                "a file path"
            };
            return Err(err(format!("expected {what} (a string)")));
        };
        if map.contains_key(&name) {
            return Err(err(format!(
                "both {name:?} and {key:?} are given; keep one"
            )));
        }
        let secret = if by_env.is_some() {
            env.var(&reference)
                .ok_or_else(|| err(format!("environment variable {reference} is not set")))?
        } else {
            let path = base_dir.join(&reference);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err(format!("cannot read secret file {}: {e}", path.display())))?;
            text.trim().to_owned()
        };
        map.insert(name, Value::String(secret));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    struct Vars(HashMap<&'static str, &'static str>);

    impl Lookup for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    #[test]
    fn env_and_file_references_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token.txt"), "  s3cret\n").unwrap();
        let mut config = json!({
            "password_env": "DB_PASSWORD",
            "auth": { "token_file": "token.txt" },
            "path": "x.csv",
        });
        let env = Vars(HashMap::from([("DB_PASSWORD", "hunter2")]));
        resolve("crm", &mut config, dir.path(), &env).unwrap();
        assert_eq!(
            config,
            json!({ "password": "hunter2", "auth": { "token": "s3cret" }, "path": "x.csv" })
        );
    }

    #[test]
    fn missing_variable_names_endpoint_key_and_variable() {
        let mut config = json!({ "auth": { "client_secret_env": "CRM_SECRET" } });
        let err = resolve("crm", &mut config, Path::new("."), &Vars(HashMap::new())).unwrap_err();
        assert_eq!(
            err,
            "endpoint crm: auth.client_secret_env: environment variable CRM_SECRET is not set"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = json!({ "key_file": "nope.pem" });
        let err = resolve("crm", &mut config, dir.path(), &Vars(HashMap::new())).unwrap_err();
        assert!(
            err.starts_with("endpoint crm: key_file: cannot read secret file "),
            "{err}"
        );
        assert!(err.contains("nope.pem"), "{err}");
    }
}
