//! Values crossing the shared SQL layer: typed arguments, driver-neutral cells and rows.

use chasqui_domain::{ChannelId, MessageId, WorkspaceId};

use crate::{Result, StoreError};

/// A statement argument. A NULL keeps its type, which PostgreSQL needs to plan the statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Float(Option<f64>),
}

macro_rules! value_from {
    ($variant:ident: $($t:ty => $conv:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Value::$variant(Some(($conv)(v)))
            }
        }
        impl From<Option<$t>> for Value {
            fn from(v: Option<$t>) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Value::$variant(v.map($conv))
            }
        }
    )*};
}

value_from!(Int: i64 => |v| v, i32 => i64::from, u32 => i64::from);
value_from!(Text: String => |v| v, &str => str::to_string, &String => String::clone);
value_from!(Bool: bool => |v| v);
value_from!(Float: f64 => |v| v);

/// Ids are stored as their text, and read back as trusted (the store wrote them).
macro_rules! id_cells {
    ($($t:ty),*) => {$(
        value_from!(Text: $t => <$t>::into_string, &$t => |v: &$t| v.to_string());
        impl From<&Option<$t>> for Value {
            fn from(v: &Option<$t>) -> Self {
                Value::Text(v.as_ref().map(|v| v.to_string()))
            }
        }
        impl FromCell for $t {
            fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
                String::from_cell(cell).map(<$t>::from_trusted)
            }
        }
    )*};
}

id_cells!(ChannelId, MessageId, WorkspaceId);

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Value::Text(v.clone())
    }
}

/// One column of a result row, as either driver hands it over.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Blob(Vec<u8>),
}

impl Cell {
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "an integer",
            Cell::Float(_) => "a real number",
            Cell::Text(_) => "text",
            Cell::Bool(_) => "a boolean",
            Cell::Blob(_) => "a blob",
        }
    }
}

/// A type a cell decodes into; a cell of another kind is corrupt data.
pub(crate) trait FromCell: Sized {
    /// Decodes `cell`, or answers what it expected.
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)>;
}

impl FromCell for i64 {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Int(v) => Ok(v),
            // SQLite has no booleans: `EXISTS (…)` and boolean columns read as integers there.
            Cell::Bool(b) => Ok(i64::from(b)),
            other => Err(("an integer", other)),
        }
    }
}

impl FromCell for i32 {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Int(v) => i32::try_from(v).map_err(|_| ("a 32-bit integer", Cell::Int(v))),
            other => Err(("a 32-bit integer", other)),
        }
    }
}

impl FromCell for u32 {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Int(v) => u32::try_from(v).map_err(|_| ("a non-negative integer", Cell::Int(v))),
            other => Err(("a non-negative integer", other)),
        }
    }
}

impl FromCell for f64 {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Float(v) => Ok(v),
            Cell::Int(v) => Ok(v as f64),
            other => Err(("a real number", other)),
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Text(v) => Ok(v),
            other => Err(("text", other)),
        }
    }
}

impl FromCell for bool {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Bool(v) => Ok(v),
            Cell::Int(0) => Ok(false),
            Cell::Int(1) => Ok(true),
            other => Err(("a boolean", other)),
        }
    }
}

impl FromCell for Vec<u8> {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Blob(v) => Ok(v),
            other => Err(("a blob", other)),
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: Cell) -> std::result::Result<Self, (&'static str, Cell)> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// A result row, read column by column in order by the row mappers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    cells: Vec<Cell>,
    next: usize,
}

impl Row {
    /// A row of these cells.
    pub(crate) fn new(cells: Vec<Cell>) -> Self {
        Self { cells, next: 0 }
    }

    /// The next column, decoded; a NULL or a value of the wrong kind is corrupt data.
    pub(crate) fn get<T: FromCell>(&mut self) -> Result<T> {
        let i = self.next;
        self.next += 1;
        let cell = match self.cells.get_mut(i) {
            Some(c) => std::mem::replace(c, Cell::Null),
            None => {
                return Err(StoreError::Corrupt(format!(
                    "column {i} missing from a row of {}",
                    self.cells.len()
                )))
            }
        };
        T::from_cell(cell).map_err(|(expected, found)| {
            StoreError::Corrupt(format!(
                "column {i}: expected {expected}, found {}",
                found.kind()
            ))
        })
    }
}

impl Row {
    /// The next column, a name parsed by `parse` into a typed value: an unknown name is corrupt
    /// data, never a default.
    pub(crate) fn parse<T>(
        &mut self,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T> {
        let text: String = self.get()?;
        parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_its_columns_in_order_and_refuses_a_wrong_kind() {
        let mut row = Row::new(vec![
            Cell::Int(7),
            Cell::Null,
            Cell::Text("x".into()),
            Cell::Int(1),
            Cell::Text("9".into()),
        ]);
        assert_eq!(row.get::<i64>().unwrap(), 7);
        assert_eq!(row.get::<Option<String>>().unwrap(), None);
        assert_eq!(row.get::<String>().unwrap(), "x");
        assert!(row.get::<bool>().unwrap());
        let err = row.get::<i64>().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(m) if m.contains("column 4")));
        assert!(matches!(row.get::<i64>(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_null_where_a_value_must_be_is_corrupt() {
        let mut row = Row::new(vec![Cell::Null]);
        assert!(matches!(row.get::<i64>(), Err(StoreError::Corrupt(_))));
    }
}
