//! Rows turned into one PostgreSQL array literal per column.
//!
//! A row is any `Serialize` struct (or map, which `#[serde(flatten)]`
//! produces) whose field names are column names; fields that are not
//! columns are left out, columns a row lacks are `NULL`. Values are
//! strings, integers, booleans (written 1/0, as the read models store
//! flags), unit enum variants (their name), or `None`.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::Column;

/// A value or row shape that has no column form.
#[derive(Debug, thiserror::Error)]
#[error("row set: {0}")]
pub struct Unsupported(String);

impl ser::Error for Unsupported {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

/// `rows` as one array literal per column of `columns`, in their order.
pub fn columns(columns: &[Column], rows: &[impl Serialize]) -> Result<Vec<String>, Unsupported> {
    let mut set = ColumnSet {
        columns,
        literals: columns.iter().map(|_| String::from("{")).collect(),
        filled: vec![false; columns.len()],
    };
    for row in rows {
        set.filled.fill(false);
        row.serialize(RowSerializer(&mut set))?;
        for i in 0..columns.len() {
            if !set.filled[i] {
                set.element(i).push_str("NULL");
            }
        }
    }
    for literal in &mut set.literals {
        literal.push('}');
    }
    Ok(set.literals)
}

struct ColumnSet<'c> {
    columns: &'c [Column],
    literals: Vec<String>,
    /// Which columns the current row has written.
    filled: Vec<bool>,
}

impl ColumnSet<'_> {
    /// The literal of column `index`, ready for its next element.
    fn element(&mut self, index: usize) -> &mut String {
        let literal = &mut self.literals[index];
        if literal.len() > 1 {
            literal.push(',');
        }
        literal
    }

    /// Writes one field of the current row, if it is a column.
    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Unsupported> {
        let Some(index) = self.columns.iter().position(|c| c.name() == name) else {
            return Ok(());
        };
        if std::mem::replace(&mut self.filled[index], true) {
            return Err(Unsupported(format!("{name} given twice in one row")));
        }
        value.serialize(ElementSerializer(self.element(index)))
    }
}

/// Serialises one row: a struct, or a map with string keys.
struct RowSerializer<'s, 'c>(&'s mut ColumnSet<'c>);

/// Serialises one value into its column's literal.
struct ElementSerializer<'a>(&'a mut String);

fn unsupported<T>(what: &str) -> Result<T, Unsupported> {
    Err(Unsupported(format!("{what} has no column form")))
}

impl<'s, 'c> ser::Serializer for RowSerializer<'s, 'c> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Impossible<(), Unsupported>;
    type SerializeTuple = Impossible<(), Unsupported>;
    type SerializeTupleStruct = Impossible<(), Unsupported>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = RowMap<'s, 'c>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Unsupported> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<RowMap<'s, 'c>, Unsupported> {
        Ok(RowMap {
            set: self.0,
            key: None,
        })
    }

    fn serialize_bool(self, _: bool) -> Result<(), Unsupported> {
        unsupported("a row that is a boolean")
    }
    fn serialize_i8(self, _: i8) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_i16(self, _: i16) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_i32(self, _: i32) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_i64(self, _: i64) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_u8(self, _: u8) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_u16(self, _: u16) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_u32(self, _: u32) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_u64(self, _: u64) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_f32(self, _: f32) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Unsupported> {
        unsupported("a row that is a number")
    }
    fn serialize_char(self, _: char) -> Result<(), Unsupported> {
        unsupported("a row that is a string")
    }
    fn serialize_str(self, _: &str) -> Result<(), Unsupported> {
        unsupported("a row that is a string")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Unsupported> {
        unsupported("a row that is bytes")
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        unsupported("a row that is None")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        unsupported("a row that is ()")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        unsupported("a row that is a unit struct")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), Unsupported> {
        unsupported("a row that is an enum")
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        unsupported("a row that is an enum")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        unsupported("a row that is a sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        unsupported("a row that is a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        unsupported("a row that is a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        unsupported("a row that is an enum")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        unsupported("a row that is an enum")
    }
}

impl ser::SerializeStruct for RowSerializer<'_, '_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.0.field(name, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

/// A row given as a map (a struct with a flattened part).
struct RowMap<'s, 'c> {
    set: &'s mut ColumnSet<'c>,
    key: Option<String>,
}

impl ser::SerializeMap for RowMap<'_, '_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        // Keys of a flattened struct are its field names.
        match key.serialize(serde_json::value::Serializer) {
            Ok(serde_json::Value::String(key)) => {
                self.key = Some(key);
                Ok(())
            }
            _ => unsupported("a key that is not a string"),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Unsupported("a map value without its key".into()))?;
        self.set.field(&key, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

/// Writes a quoted element: `"` and `\` escaped with a backslash.
/// Runs without either are copied whole (ids and times have none).
fn quoted(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let mut rest = text;
    while let Some(at) = rest.find(['"', '\\']) {
        out.push_str(&rest[..at]);
        out.push('\\');
        out.push_str(&rest[at..=at]);
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

impl ser::Serializer for ElementSerializer<'_> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Impossible<(), Unsupported>;
    type SerializeTuple = Impossible<(), Unsupported>;
    type SerializeTupleStruct = Impossible<(), Unsupported>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Impossible<(), Unsupported>;
    type SerializeStruct = Impossible<(), Unsupported>;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_bool(self, value: bool) -> Result<(), Unsupported> {
        self.0.push(if value { '1' } else { '0' });
        Ok(())
    }
    fn serialize_i8(self, value: i8) -> Result<(), Unsupported> {
        self.serialize_i64(value.into())
    }
    fn serialize_i16(self, value: i16) -> Result<(), Unsupported> {
        self.serialize_i64(value.into())
    }
    fn serialize_i32(self, value: i32) -> Result<(), Unsupported> {
        self.serialize_i64(value.into())
    }
    fn serialize_i64(self, value: i64) -> Result<(), Unsupported> {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = write!(self.0, "{value}");
        Ok(())
    }
    fn serialize_u8(self, value: u8) -> Result<(), Unsupported> {
        self.serialize_i64(value.into())
    }
    fn serialize_u16(self, value: u16) -> Result<(), Unsupported> {
        self.serialize_i64(value.into())
    }
    fn serialize_u32(self, value: u32) -> Result<(), Unsupported> {
        self.serialize_i64(value.into())
    }
    fn serialize_u64(self, value: u64) -> Result<(), Unsupported> {
        let value =
            i64::try_from(value).map_err(|_| Unsupported(format!("{value} is beyond bigint")))?;
        self.serialize_i64(value)
    }
    fn serialize_f32(self, _: f32) -> Result<(), Unsupported> {
        unsupported("a float")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Unsupported> {
        unsupported("a float")
    }
    fn serialize_char(self, value: char) -> Result<(), Unsupported> {
        quoted(self.0, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, value: &str) -> Result<(), Unsupported> {
        quoted(self.0, value);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Unsupported> {
        unsupported("bytes")
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        self.0.push_str("NULL");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        unsupported("an enum with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        unsupported("a sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        unsupported("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        unsupported("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        unsupported("an enum with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        unsupported("a map")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        unsupported("a struct")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        unsupported("an enum with data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Flags {
        muted: bool,
        extra: Vec<u8>,
    }

    #[derive(Serialize)]
    struct Row<'a> {
        id: &'a str,
        count: Option<u32>,
        ignored: f64,
        #[serde(flatten)]
        flags: Flags,
    }

    const COLUMNS: &[Column] = &[
        Column::Text("id"),
        Column::Int("count"),
        Column::Flag("muted"),
        Column::Text("absent"),
    ];

    #[test]
    fn rows_become_one_array_literal_per_column_with_quotes_escaped_and_nulls_filled() {
        let rows = [
            Row {
                id: r#"a "quoted" \ NULL,{}"#,
                count: Some(3),
                ignored: 1.5,
                flags: Flags {
                    muted: true,
                    extra: vec![1],
                },
            },
            Row {
                id: "NULL",
                count: None,
                ignored: 0.0,
                flags: Flags {
                    muted: false,
                    extra: vec![],
                },
            },
        ];
        assert_eq!(
            columns(COLUMNS, &rows).unwrap(),
            [
                r#"{"a \"quoted\" \\ NULL,{}","NULL"}"#,
                "{3,NULL}",
                "{1,0}",
                "{NULL,NULL}",
            ]
        );
    }

    #[test]
    fn a_value_with_no_column_form_is_refused() {
        #[derive(Serialize)]
        struct Bad {
            id: f64,
        }
        assert!(columns(COLUMNS, &[Bad { id: 1.0 }]).is_err());
    }

    #[test]
    fn no_rows_give_empty_arrays() {
        assert_eq!(
            columns(COLUMNS, &[] as &[Row]).unwrap(),
            ["{}", "{}", "{}", "{}"]
        );
    }
}
