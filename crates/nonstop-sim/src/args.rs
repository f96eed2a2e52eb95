//! Reading a Web API call's arguments, which come as JSON or as a form (nested values then as
//! JSON strings).

use serde_json::{Map, Value};

pub(crate) type Args = Map<String, Value>;

/// A non-empty text argument.
pub(crate) fn arg<'a>(args: &'a Args, key: &str) -> Option<&'a str> {
    args.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A JSON argument, whether sent as JSON or as a JSON string in a form.
pub(crate) fn json_arg(args: &Args, key: &str) -> Option<Value> {
    match args.get(key)? {
        Value::String(text) => serde_json::from_str(text).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}
