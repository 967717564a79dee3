//! The read model against the topics: after a run, every order and stock level in PostgreSQL
//! must be exactly the newest record of its key on `orders.orders` and `inventory.stock`,
//! nothing missing, nothing extra. The projector writes its rows and its offsets in one
//! database transaction; this is the check that a crash or a database outage did not make it
//! skip or repeat a record.

use serde::Serialize;
use shop_processors::invariants::Observed;
use shop_processors::orders::status_name;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How many example keys a report names per kind of difference.
const EXAMPLES: usize = 10;

/// A row as the comparison sees it: the fields both sides have.
pub type Rows = BTreeMap<String, String>;

/// How one table of the read model differs from its topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableAudit {
    /// Keys on the topic.
    pub expected: usize,
    /// Rows in the table.
    pub found: usize,
    /// Keys on the topic with no row.
    pub missing: usize,
    /// Rows with no key on the topic.
    pub extra: usize,
    /// Rows that differ from the newest record.
    pub different: usize,
    /// Up to ten examples: `key: expected … found …`.
    pub examples: Vec<String>,
}

impl TableAudit {
    /// Whether the table holds exactly what the topic says.
    pub fn is_clean(&self) -> bool {
        self.missing == 0 && self.extra == 0 && self.different == 0
    }
}

/// Both tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadModelAudit {
    pub orders: TableAudit,
    pub stock: TableAudit,
    /// How long the projector took to agree after the load ended (or until the audit gave up).
    pub waited_s: f64,
}

impl ReadModelAudit {
    pub fn is_clean(&self) -> bool {
        self.orders.is_clean() && self.stock.is_clean()
    }

    /// Differences of both tables together.
    pub fn differences(&self) -> usize {
        let table = |t: &TableAudit| t.missing + t.extra + t.different;
        table(&self.orders) + table(&self.stock)
    }
}

/// Compares `expected` (from the topics) with `found` (from the table), key by key.
pub fn compare(expected: &Rows, found: &Rows) -> TableAudit {
    let mut audit = TableAudit {
        expected: expected.len(),
        found: found.len(),
        ..TableAudit::default()
    };
    for (key, want) in expected {
        match found.get(key) {
            None => {
                audit.missing += 1;
                note(format!("{key}: expected {want}, no row"), &mut audit);
            }
            Some(got) if got != want => {
                audit.different += 1;
                note(format!("{key}: expected {want}, found {got}"), &mut audit);
            }
            Some(_) => {}
        }
    }
    for (key, got) in found {
        if !expected.contains_key(key) {
            audit.extra += 1;
            note(format!("{key}: no record, found {got}"), &mut audit);
        }
    }
    audit
}

/// Keeps `line` as an example unless there are enough already.
fn note(line: String, audit: &mut TableAudit) {
    if audit.examples.len() < EXAMPLES {
        audit.examples.push(line);
    }
}

/// The orders and stock levels as the topics have them, in the comparison's terms.
pub fn expected_rows(observed: &Observed) -> (Rows, Rows) {
    let orders = observed
        .orders
        .iter()
        .map(|(id, order)| {
            (
                id.clone(),
                order_row(status_name(order.status), order.version),
            )
        })
        .collect();
    let stock = observed
        .stock
        .iter()
        .map(|(id, level)| {
            (
                id.clone(),
                stock_row(level.available, level.reserved, level.version),
            )
        })
        .collect();
    (orders, stock)
}

fn order_row(status: &str, version: i64) -> String {
    format!("{status} v{version}")
}

fn stock_row(available: i32, reserved: i32, version: i64) -> String {
    format!("available {available} reserved {reserved} v{version}")
}

/// Reads both tables.
///
/// # Errors
/// The database error.
pub async fn found_rows(pool: &PgPool) -> Result<(Rows, Rows), sqlx::Error> {
    let orders: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT order_id, status, version FROM orders")
            .fetch_all(pool)
            .await?;
    let stock: Vec<(String, i32, i32, i64)> =
        sqlx::query_as("SELECT product_id, available, reserved, version FROM stock_levels")
            .fetch_all(pool)
            .await?;
    Ok((
        orders
            .into_iter()
            .map(|(id, status, version)| (id, order_row(&status, version)))
            .collect(),
        stock
            .into_iter()
            .map(|(id, available, reserved, version)| (id, stock_row(available, reserved, version)))
            .collect(),
    ))
}

/// Compares the read model with `observed` until they agree or `patience` runs out (the
/// projector may still be catching up), and returns the last comparison.
///
/// # Errors
/// The database error if the tables could not be read even once.
pub async fn audit(
    pool: &PgPool,
    observed: &Observed,
    patience: Duration,
) -> Result<ReadModelAudit, sqlx::Error> {
    let (orders, stock) = expected_rows(observed);
    let started = Instant::now();
    loop {
        let result = found_rows(pool).await;
        let (found_orders, found_stock) = match result {
            Ok(rows) => rows,
            Err(error) if started.elapsed() < patience => {
                tracing::warn!(%error, "reading the read model; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        let audit = ReadModelAudit {
            orders: compare(&orders, &found_orders),
            stock: compare(&stock, &found_stock),
            waited_s: started.elapsed().as_secs_f64(),
        };
        if audit.is_clean() || started.elapsed() >= patience {
            return Ok(audit);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(entries: &[(&str, &str)]) -> Rows {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn equal_sides_are_clean() {
        let both = rows(&[("o1", "CONFIRMED v4"), ("o2", "REJECTED v2")]);
        let audit = compare(&both, &both);
        assert!(audit.is_clean(), "{audit:?}");
        assert_eq!((audit.expected, audit.found), (2, 2));
    }

    #[test]
    fn missing_extra_and_different_rows_are_each_counted_and_named() {
        let expected = rows(&[
            ("o1", "CONFIRMED v4"),
            ("o2", "REJECTED v2"),
            ("o3", "CANCELLED v5"),
        ]);
        let found = rows(&[
            ("o1", "CONFIRMED v4"),
            ("o2", "STOCK_RESERVED v1"),
            ("o9", "PENDING v0"),
        ]);
        let audit = compare(&expected, &found);
        assert_eq!((audit.missing, audit.extra, audit.different), (1, 1, 1));
        assert!(!audit.is_clean());
        assert_eq!(
            audit.examples,
            vec![
                "o2: expected REJECTED v2, found STOCK_RESERVED v1",
                "o3: expected CANCELLED v5, no row",
                "o9: no record, found PENDING v0",
            ]
        );
    }

    #[test]
    fn examples_stop_at_ten_but_counts_do_not() {
        let expected: Rows = (0..25)
            .map(|i| (format!("o{i:02}"), "v1".to_owned()))
            .collect();
        let audit = compare(&expected, &Rows::new());
        assert_eq!(audit.missing, 25);
        assert_eq!(audit.examples.len(), EXAMPLES);
        let both = ReadModelAudit {
            orders: audit,
            ..ReadModelAudit::default()
        };
        assert_eq!(both.differences(), 25);
    }
}
