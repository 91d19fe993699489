//! `model.safetensors.index.json`, the map from tensor names to the shards
//! of a sharded model: parsed from untrusted bytes (size-capped), every
//! shard name checked before it becomes a URL or a file name, and rewritten
//! to point at the compressed shards so the output is still a model.

use serde_json::{Map, Value};

use super::refs;
use crate::error::{Error, Result};

/// Largest index accepted. The biggest real models' indexes are a few MB
/// (one line per tensor); this bounds what a hostile repo can make us hold.
pub const MAX_INDEX_BYTES: u64 = 32 << 20;

/// Whether a repo file is a shard index (`*.safetensors.index.json`).
pub fn is_index(path: &str) -> bool {
    path.ends_with(".safetensors.index.json")
}

/// A parsed, validated shard index.
#[derive(Debug, Clone)]
pub struct ShardIndex {
    /// The repo path of the index, for messages.
    name: String,
    doc: Map<String, Value>,
    /// Distinct shard file names, in first-seen order.
    shards: Vec<String>,
}

impl ShardIndex {
    /// Parse `bytes` read from the repo file `name`.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<ShardIndex> {
        let bad = |reason: String| Error::HubBadIndex {
            index: name.to_string(),
            reason,
        };
        if bytes.len() as u64 > MAX_INDEX_BYTES {
            return Err(bad(format!("larger than {MAX_INDEX_BYTES} bytes")));
        }
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let Value::Object(doc) = doc else {
            return Err(bad("not a JSON object".into()));
        };
        let map = doc
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
        let mut shards: Vec<String> = Vec::new();
        for (tensor, shard) in map {
            let shard = shard
                .as_str()
                .ok_or_else(|| bad(format!("tensor {tensor:?} maps to a non-string")))?;
            check_shard_name(name, shard)?;
            if !shards.iter().any(|s| s == shard) {
                shards.push(shard.to_string());
            }
        }
        if shards.is_empty() {
            return Err(bad("the weight_map is empty".into()));
        }
        Ok(ShardIndex {
            name: name.to_string(),
            doc,
            shards,
        })
    }

    /// The repo path of the index.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Distinct shard names as written in the index (relative to its folder).
    pub fn shards(&self) -> &[String] {
        &self.shards
    }

    /// Repo paths of the shards (the index's folder joined in).
    pub fn shard_paths(&self) -> Vec<String> {
        let dir = self.name.rsplit_once('/').map(|(d, _)| d);
        self.shards
            .iter()
            .map(|s| match dir {
                Some(d) => format!("{d}/{s}"),
                None => s.clone(),
            })
            .collect()
    }

    /// The index with every shard renamed by `rename` (given the shard's
    /// repo path), everything else kept, as pretty JSON.
    pub fn rewrite(&self, rename: impl Fn(&str) -> String) -> Vec<u8> {
        let dir = self.name.rsplit_once('/').map(|(d, _)| d);
        let mut doc = self.doc.clone();
        if let Some(Value::Object(map)) = doc.get_mut("weight_map") {
            for v in map.values_mut() {
                if let Some(s) = v.as_str() {
                    let path = match dir {
                        Some(d) => format!("{d}/{s}"),
                        None => s.to_string(),
                    };
                    *v = Value::String(rename(&path));
                }
            }
        }
        let mut out = serde_json::to_vec_pretty(&Value::Object(doc)).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// A shard name must be a plain `.safetensors` file name beside the index:
/// no `..`, no absolute path, no URL, no folders, no control characters.
fn check_shard_name(index: &str, name: &str) -> Result<()> {
    let reason = refs::path_problem(name).or(if name.contains('/') {
        Some("a shard must be a file beside the index, not in a folder")
    } else if !name.ends_with(".safetensors") {
        Some("a shard must be a .safetensors file")
    } else {
        None
    });
    match reason {
        Some(reason) => Err(Error::HubBadShardName {
            index: index.to_string(),
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"metadata": {"total_size": 10},
        "weight_map": {"a": "model-00001-of-00002.safetensors",
                       "b": "model-00002-of-00002.safetensors",
                       "c": "model-00001-of-00002.safetensors"}}"#;

    #[test]
    fn parse_and_rewrite() {
        let idx = ShardIndex::parse("model.safetensors.index.json", INDEX.as_bytes()).unwrap();
        assert_eq!(
            idx.shards(),
            [
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        let out = idx.rewrite(|p| format!("{p}.stz"));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["weight_map"]["b"], "model-00002-of-00002.safetensors.stz");
        assert_eq!(v["metadata"]["total_size"], 10);

        let sub = ShardIndex::parse("te/model.safetensors.index.json", INDEX.as_bytes()).unwrap();
        assert_eq!(sub.shard_paths()[0], "te/model-00001-of-00002.safetensors");
    }

    #[test]
    fn rejects_bad_shards() {
        for bad in [
            "../x.safetensors",
            "/etc/x.safetensors",
            "https://evil.example/x.safetensors",
            "sub/x.safetensors",
            "x.bin",
            "a\nb.safetensors",
            "..\\x.safetensors",
        ] {
            let doc = serde_json::json!({"weight_map": {"t": bad}}).to_string();
            assert!(
                matches!(
                    ShardIndex::parse("i.json", doc.as_bytes()),
                    Err(Error::HubBadShardName { .. })
                ),
                "{bad}"
            );
        }
        for bad in [
            "[]",
            "{}",
            r#"{"weight_map": {}}"#,
            r#"{"weight_map": {"t": 1}}"#,
            "{",
        ] {
            assert!(
                matches!(
                    ShardIndex::parse("i.json", bad.as_bytes()),
                    Err(Error::HubBadIndex { .. })
                ),
                "{bad}"
            );
        }
    }
}
