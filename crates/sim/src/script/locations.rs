//! Where each value of a parsed script starts in its source text, so a
//! validation problem can name a line; and TOML read into that shape.

use serde_json::{Map, Value};

/// Where a value starts in the source, and where its children do.
#[derive(Debug, Clone, Default)]
pub(super) struct Loc {
    pub(super) at: Option<usize>,
    pub(super) kids: Kids,
}

#[derive(Debug, Clone, Default)]
pub(super) enum Kids {
    #[default]
    Leaf,
    Array(Vec<Loc>),
    /// key, where the key starts, the value's location
    Object(Vec<(String, usize, Loc)>),
}

impl Loc {
    pub(super) fn item(&self, index: usize) -> Option<&Loc> {
        match &self.kids {
            Kids::Array(items) => items.get(index),
            _ => None,
        }
    }

    pub(super) fn key_at(&self, key: &str) -> Option<usize> {
        match &self.kids {
            Kids::Object(members) => members.iter().find(|m| m.0 == key).map(|m| m.1),
            _ => None,
        }
    }

    pub(super) fn member(&self, key: &str) -> Option<&Loc> {
        match &self.kids {
            Kids::Object(members) => members.iter().find(|m| m.0 == key).map(|m| &m.2),
            _ => None,
        }
    }
}

/// A TOML document as JSON values plus locations, or (offset, message).
pub(super) fn from_toml(text: &str) -> Result<(Value, Loc), (Option<usize>, String)> {
    let doc = toml::de::DeTable::parse(text)
        .map_err(|e| (e.span().map(|s| s.start), e.message().trim().to_string()))?;
    let span = doc.span();
    convert_toml_table(doc.get_ref(), span.start)
}

fn convert_toml(
    value: &toml::de::DeValue<'_>,
    at: usize,
) -> Result<(Value, Loc), (Option<usize>, String)> {
    use toml::de::DeValue;
    let leaf = |v: Value| {
        Ok((
            v,
            Loc {
                at: Some(at),
                kids: Kids::Leaf,
            },
        ))
    };
    match value {
        DeValue::String(s) => leaf(Value::String(s.to_string())),
        DeValue::Boolean(b) => leaf(Value::Bool(*b)),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => leaf(Value::from(n)),
            Err(_) => Err((Some(at), format!("integer {i} is out of range"))),
        },
        DeValue::Float(f) => match f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number))
        {
            Some(v) => leaf(v),
            None => Err((Some(at), format!("float {f} is not supported here"))),
        },
        DeValue::Datetime(d) => leaf(Value::String(d.to_string())),
        DeValue::Array(items) => {
            let mut values = Vec::new();
            let mut locs = Vec::new();
            for item in items.iter() {
                let (v, l) = convert_toml(item.get_ref(), item.span().start)?;
                values.push(v);
                locs.push(l);
            }
            Ok((
                Value::Array(values),
                Loc {
                    at: Some(at),
                    kids: Kids::Array(locs),
                },
            ))
        }
        DeValue::Table(table) => convert_toml_table(table, at),
    }
}

fn convert_toml_table(
    table: &toml::de::DeTable<'_>,
    at: usize,
) -> Result<(Value, Loc), (Option<usize>, String)> {
    let mut map = Map::new();
    let mut members = Vec::new();
    for (key, value) in table.iter() {
        let (v, l) = convert_toml(value.get_ref(), value.span().start)?;
        map.insert(key.get_ref().to_string(), v);
        members.push((key.get_ref().to_string(), key.span().start, l));
    }
    Ok((
        Value::Object(map),
        Loc {
            at: Some(at),
            kids: Kids::Object(members),
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::script::test_support::toml;
    use crate::script::{Step, StopReason};

    #[test]
    fn array_of_tables_steps() {
        let script = toml(
            "[[turn]]\n[[turn.steps]]\nsay = \"\"\"multi\nline\"\"\"\n[[turn.steps]]\nstop = \"refusal\"\n",
        )
        .unwrap();
        assert_eq!(
            script.turns[0].steps,
            [
                Step::Say("multi\nline".into()),
                Step::Stop(StopReason::Refusal)
            ]
        );
    }
}
