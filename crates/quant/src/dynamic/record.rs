//! The `lowbit.dynamic` metadata record: which products were quantized dynamically and
//! with which activation granularity. The runtime reads it to pick per-row kernels.

use serde_json::{json, Value};

use super::{ActivationGranularity, DynamicError, WeightGranularity};

/// Metadata key of the record, a JSON object:
/// `{"activations": "per_tensor"|"per_row", "weights": "per_channel"|"per_tensor",
///   "nodes": [MatMulInteger node names]}`.
pub const METADATA_KEY: &str = "lowbit.dynamic";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicRecord {
    pub activations: ActivationGranularity,
    pub weights: WeightGranularity,
    /// Names of the MatMulInteger nodes the pass created.
    pub nodes: Vec<String>,
}

impl DynamicRecord {
    pub fn to_json(&self) -> String {
        json!({
            "activations": self.activations.name(),
            "weights": self.weights.name(),
            "nodes": self.nodes,
        })
        .to_string()
    }

    /// Parses the record; an absent or malformed field is an error naming it.
    pub fn from_json(text: &str) -> Result<DynamicRecord, DynamicError> {
        let bad = |message: String| DynamicError::Metadata {
            key: METADATA_KEY,
            message,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let activations = ActivationGranularity::from_name(&field("activations"))
            .ok_or_else(|| bad(format!("unknown activations '{}'", field("activations"))))?;
        let weights = match field("weights").as_str() {
            "per_channel" => WeightGranularity::PerChannel,
            "per_tensor" => WeightGranularity::PerTensor,
            other => return Err(bad(format!("unknown weights '{other}'"))),
        };
        let nodes = value
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("'nodes' must be a list of node names".to_string()))?
            .iter()
            .map(|n| n.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("'nodes' must hold strings".to_string()))?;
        Ok(DynamicRecord {
            activations,
            weights,
            nodes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let record = DynamicRecord {
            activations: ActivationGranularity::PerRow,
            weights: WeightGranularity::PerTensor,
            nodes: vec!["a".into(), "b/c".into()],
        };
        assert_eq!(DynamicRecord::from_json(&record.to_json()).unwrap(), record);
        assert!(DynamicRecord::from_json("{\"activations\":\"x\"}").is_err());
        assert!(DynamicRecord::from_json("not json").is_err());
    }
}
