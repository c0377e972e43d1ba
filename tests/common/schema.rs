//! A checker of JSON against docs/bundle.schema.json, for the tests of what defender writes.

/// A validator for the JSON Schema subset docs/bundle.schema.json uses (type, const, oneOf,
/// $ref to $defs, required, properties, additionalProperties, items, minItems, minimum,
/// maximum, and its four patterns, checked by hand: an unknown pattern fails the test).
pub fn validate(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    v: &serde_json::Value,
    at: &str,
) -> Result<(), String> {
    use serde_json::Value;
    if let Some(Value::String(r)) = schema.get("$ref") {
        let name = r.strip_prefix("#/$defs/").ok_or(format!("unsupported $ref {r}"))?;
        validate(root, &root["$defs"][name], v, at)?;
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        return Err(format!("{at}: {v} is not {c}"));
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let passing = options.iter().filter(|o| validate(root, o, v, at).is_ok()).count();
        if passing != 1 {
            return Err(format!("{at}: {v} matches {passing} of oneOf"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("bad type {t}")),
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {v} is not of type {t}"));
        }
    }
    if let Some(Value::String(pattern)) = schema.get("pattern") {
        let s = v.as_str().unwrap_or_default();
        let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
        let ok = match pattern.as_str() {
            "^0x[0-9a-fA-F]{40}$" => s.len() == 42 && s.starts_with("0x") && hex(&s[2..]),
            "^0x[0-9a-fA-F]{64}$" => s.len() == 66 && s.starts_with("0x") && hex(&s[2..]),
            "^0x([0-9a-fA-F]{2})*$" => s.starts_with("0x") && s.len().is_multiple_of(2) && hex(&s[2..]),
            "^(0|[1-9][0-9]{0,77})$" => {
                s == "0"
                    || (!s.is_empty()
                        && s.len() <= 78
                        && !s.starts_with('0')
                        && s.chars().all(|c| c.is_ascii_digit()))
            }
            other => return Err(format!("the test's validator does not know the pattern {other}")),
        };
        if !ok {
            return Err(format!("{at}: {s:?} does not match {pattern}"));
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_u64), v.as_i64())
        && n < min as i64
    {
        return Err(format!("{at}: {n} < {min}"));
    }
    if let (Some(max), Some(n)) = (schema.get("maximum").and_then(Value::as_u64), v.as_u64())
        && n > max
    {
        return Err(format!("{at}: {n} > {max}"));
    }
    if let Value::Object(object) = v {
        for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = key.as_str().unwrap();
            if !object.contains_key(key) {
                return Err(format!("{at}: {key} is required"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, value) in object {
            let here = format!("{at}.{key}");
            match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                (Some(sub), _) => validate(root, sub, value, &here)?,
                (None, Some(Value::Bool(false))) => return Err(format!("{here} is not in the schema")),
                (None, Some(sub)) if sub.is_object() => validate(root, sub, value, &here)?,
                (None, _) => {}
            }
        }
    }
    if let Value::Array(items) = v {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            return Err(format!("{at}: fewer than {min} items"));
        }
        if let Some(sub) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(root, sub, item, &format!("{at}[{i}]"))?;
            }
        }
    }
    Ok(())
}
