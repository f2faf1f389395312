//! Cursor pagination, described once: every listing answers a [`Page`] and takes a [`Limit`]
//! and a `cursor` (the `next_cursor` of the page before).

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// Page size when a listing names none.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page.
pub const MAX_LIMIT: i64 = 200;

/// One page of a listing; pass `next_cursor` as `cursor` for the next one (`null`: the last).
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// The cursor of the next page, or `null` after the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` when `limit` were asked for: a full page may have a next one, at the
    /// cursor `cursor_of` its last item gives.
    pub fn new<'a, R>(
        rows: &'a [R],
        limit: Limit,
        view: impl Fn(&'a R) -> T,
        cursor_of: impl Fn(&'a R) -> String,
    ) -> Self {
        let next_cursor = (rows.len() as i64 == limit.get())
            .then(|| rows.last().map(cursor_of))
            .flatten();
        Self {
            data: rows.iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// A whole listing in one answer (small, bounded collections).
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    /// Every item.
    pub data: Vec<T>,
}

impl<T> List<T> {
    /// Wraps `items`.
    pub fn of(items: Vec<T>) -> Self {
        Self { data: items }
    }
}

/// `limit`: a page size from 1 to 200 (default 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(i64);

impl utoipa::PartialSchema for Limit {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT))
            .default(Some(DEFAULT_LIMIT.into()))
            .description(Some("Page size, from 1 to 200."))
            .into()
    }
}

impl ToSchema for Limit {}

impl Limit {
    /// The size.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.trim()
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .map(Self)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("must be a whole number from 1 to {MAX_LIMIT}"))
            })
    }
}
