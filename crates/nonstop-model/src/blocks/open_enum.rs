//! Enums of Block Kit kinds that stay open: a kind nonstop has no type for, or one whose
//! fields do not read as the type says, is kept as Slack sent it and written back unchanged
//! (Slack adds blocks and elements every quarter; a bot must not lose them).

use serde::Serialize;
use serde_json::{Map, Value};

/// Writes `value` as a JSON object with `"type": kind` added.
pub(crate) fn serialize_tagged<S, T>(
    kind: &str,
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    T: Serialize,
{
    let mut object = match serde_json::to_value(value).map_err(serde::ser::Error::custom)? {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    object.insert("type".to_owned(), Value::String(kind.to_owned()));
    object.serialize(serializer)
}

/// The `"type"` of a JSON object, or `""`.
pub(crate) fn kind_of(object: &Map<String, Value>) -> &str {
    object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Declares an open enum: one variant per known kind (`Variant(Type) = "kind"`), and
/// `Unknown` for everything else. Reading never fails on a JSON object; writing a known
/// variant adds its `"type"`.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty) = $kind:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        // Built once per message and written out at once, never held in bulk: boxing the
        // large variants would cost every builder call a `Box::new` for nothing.
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            $( $(#[$vmeta])* $variant($ty), )+
            /// A kind this version has no type for (or whose fields did not read as its
            /// type says): kept as Slack sent it, and written back unchanged.
            Unknown(serde_json::Map<String, serde_json::Value>),
        }

        impl $name {
            /// Its `"type"` on the wire.
            pub fn kind(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $kind, )+
                    Self::Unknown(object) => $crate::blocks::open_enum::kind_of(object),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(value) => {
                        $crate::blocks::open_enum::serialize_tagged($kind, value, serializer)
                    } )+
                    Self::Unknown(object) => serde::Serialize::serialize(object, serializer),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let object: serde_json::Map<String, serde_json::Value> =
                    serde::Deserialize::deserialize(deserializer)?;
                let read = match $crate::blocks::open_enum::kind_of(&object) {
                    $( $kind => {
                        let mut fields = object.clone();
                        fields.remove("type");
                        serde_json::from_value::<$ty>(serde_json::Value::Object(fields))
                            .ok()
                            .map(Self::$variant)
                    } )+
                    _ => None,
                };
                Ok(read.unwrap_or(Self::Unknown(object)))
            }
        }
    };
}

pub(crate) use open_enum;
