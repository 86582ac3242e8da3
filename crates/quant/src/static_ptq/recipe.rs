//! Recipe files: a TOML document laid over a preset.
//!
//! ```toml
//! preset = "x86"            # optional; otherwise the caller's preset
//! bias_correction = true
//! gptq_rounding = true      # error-feedback weight rounding before bias correction
//! [activations]
//! observer = "entropy"
//! quantize_outputs = false  # the model's outputs stay float
//! [weights]
//! per_channel = true
//! [[override]]
//! node = "head/fc"
//! fp32 = true
//! ```
//!
//! Keys not given keep the preset's value; unknown keys are errors.

use super::error::{PtqError, Result};
use super::qconfig::{Preset, QConfig};

/// Parses `text` over `preset` (or over the recipe's own `preset` key).
pub fn parse_recipe(text: &str, preset: Preset) -> Result<QConfig> {
    let mut recipe: toml::Table = text.parse().map_err(|e| PtqError::Recipe(format!("{e}")))?;
    let preset = match recipe.remove("preset") {
        None => preset,
        Some(toml::Value::String(name)) => Preset::parse(&name)
            .ok_or_else(|| PtqError::Recipe(format!("unknown preset '{name}' (per-tensor or x86)")))?,
        Some(other) => return Err(PtqError::Recipe(format!("preset must be a string, got {other}"))),
    };
    let base = toml::Table::try_from(QConfig::preset(preset)).expect("a QConfig always serialises");
    let merged = merge(base, recipe);
    let config: QConfig = merged
        .try_into()
        .map_err(|e: toml::de::Error| PtqError::Recipe(e.message().to_string()))?;
    for o in &config.overrides {
        if o.node.is_some() == o.op.is_some() {
            return Err(PtqError::Recipe(format!(
                "each [[override]] names exactly one of `node` and `op`, got {o:?}"
            )));
        }
    }
    Ok(config)
}

/// `over` laid on `base`: tables merge key by key, anything else replaces.
fn merge(mut base: toml::Table, over: toml::Table) -> toml::Table {
    for (key, value) in over {
        let merged = match (base.remove(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => toml::Value::Table(merge(b, o)),
            (_, value) => value,
        };
        base.insert(key, merged);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_ptq::ObserverKind;

    #[test]
    fn recipe_overrides_only_what_it_names() {
        let q = parse_recipe(
            "[activations]\nobserver = \"entropy\"\n[[override]]\nnode = \"fc\"\nfp32 = true\n",
            Preset::X86,
        )
        .unwrap();
        assert_eq!(q.activations.observer, ObserverKind::Entropy);
        assert!(!q.activations.reduce_range && q.weights.per_channel && q.bias_correction);
        assert!(q.is_fp32("fc", "Gemm"));
        let round_trip = parse_recipe(&q.to_toml(), Preset::PerTensor).unwrap();
        assert_eq!(round_trip, q);
    }

    #[test]
    fn preset_key_and_errors() {
        let q = parse_recipe("preset = \"per-tensor\"", Preset::X86).unwrap();
        assert_eq!(q, QConfig::preset(Preset::PerTensor));
        assert!(parse_recipe("[activations]\nobserver = \"magic\"", Preset::X86).is_err());
        assert!(parse_recipe("colour = 1", Preset::X86).is_err());
        assert!(parse_recipe("[[override]]\nfp32 = true", Preset::X86).is_err());
        assert!(parse_recipe("preset = \"arm\"", Preset::X86).is_err());
    }
}
