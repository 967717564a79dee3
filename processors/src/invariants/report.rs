//! What [`check`](super::check) found: a summary of the run and every broken promise.

use std::collections::BTreeMap;
use std::fmt;

/// Which promise a [`Violation`] breaks. Displays as the snake_case name used in reports,
/// docs and tests (`not_terminal`, `stock_balance`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// An order id appears more than once on `checkout.requested`.
    DuplicateCheckout,
    /// A requested order has no terminal event.
    NotTerminal,
    /// An order has more than one terminal event.
    MultipleTerminal,
    /// Order events or state for an order id never requested.
    UnknownOrder,
    /// The newest `orders.orders` record disagrees with the terminal event.
    StateMismatch,
    /// available + reserved + sold != restocked for a product.
    StockBalance,
    /// available or reserved below zero.
    NegativeStock,
    /// reserved != the sum of the open reservations.
    ReservedMismatch,
    /// More sold than was ever restocked.
    Oversold,
    /// An open reservation of an order that already ended.
    LeakedReservation,
    /// More than one authorization for an order.
    DuplicatePayment,
    /// An authorization of an order that did not end CONFIRMED was never voided.
    UnvoidedCharge,
    /// A CONFIRMED order with no (unvoided) authorization.
    ConfirmedUnpaid,
    /// Stock committed more than once for the same order and product.
    DuplicateCommit,
    /// Stock committed for an order that did not end CONFIRMED.
    CommitWithoutConfirmation,
    /// An ingress command with no outcome.
    MissingOutcome,
    /// An ingress command with more than one outcome.
    DuplicateOutcome,
    /// A record that does not decode.
    Undecodable,
}

impl ViolationKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 18] = [
        Self::DuplicateCheckout,
        Self::NotTerminal,
        Self::MultipleTerminal,
        Self::UnknownOrder,
        Self::StateMismatch,
        Self::StockBalance,
        Self::NegativeStock,
        Self::ReservedMismatch,
        Self::Oversold,
        Self::LeakedReservation,
        Self::DuplicatePayment,
        Self::UnvoidedCharge,
        Self::ConfirmedUnpaid,
        Self::DuplicateCommit,
        Self::CommitWithoutConfirmation,
        Self::MissingOutcome,
        Self::DuplicateOutcome,
        Self::Undecodable,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DuplicateCheckout => "duplicate_checkout",
            Self::NotTerminal => "not_terminal",
            Self::MultipleTerminal => "multiple_terminal",
            Self::UnknownOrder => "unknown_order",
            Self::StateMismatch => "state_mismatch",
            Self::StockBalance => "stock_balance",
            Self::NegativeStock => "negative_stock",
            Self::ReservedMismatch => "reserved_mismatch",
            Self::Oversold => "oversold",
            Self::LeakedReservation => "leaked_reservation",
            Self::DuplicatePayment => "duplicate_payment",
            Self::UnvoidedCharge => "unvoided_charge",
            Self::ConfirmedUnpaid => "confirmed_unpaid",
            Self::DuplicateCommit => "duplicate_commit",
            Self::CommitWithoutConfirmation => "commit_without_confirmation",
            Self::MissingOutcome => "missing_outcome",
            Self::DuplicateOutcome => "duplicate_outcome",
            Self::Undecodable => "undecodable",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// What it is about: an order id, a product id, or `topic/partition/offset` for an
    /// undecodable record.
    pub subject: String,
    /// A sentence for people.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.subject, self.detail)
    }
}

/// The result of [`check`](super::check).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Distinct order ids on `checkout.requested`.
    pub checkouts: usize,
    /// Requested orders by the status of their (last) terminal event (`CONFIRMED`,
    /// `REJECTED`, `CANCELLED`); orders without one are counted under `not_terminal`.
    pub terminal: BTreeMap<String, usize>,
    /// Products seen on `inventory.stock`, in a restock or in a commit.
    pub products: usize,
    /// Ingress commands whose record is on its topic more than once (a producer resent a batch
    /// the broker had already stored). Not a violation: each is still owed exactly one outcome,
    /// which `duplicate_outcome` checks; counted to show the processors had copies to drop.
    pub copied_commands: usize,
    /// Sorted by kind (in [`ViolationKind::ALL`] order), then subject.
    pub violations: Vec<Violation>,
}

impl Report {
    /// No promise was broken.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// How many violations of `kind` were found.
    pub fn count(&self, kind: ViolationKind) -> usize {
        self.violations.iter().filter(|v| v.kind == kind).count()
    }

    /// The number of violations of each kind found (kinds not found are absent).
    pub fn counts(&self) -> BTreeMap<ViolationKind, usize> {
        let mut counts = BTreeMap::new();
        for violation in &self.violations {
            *counts.entry(violation.kind).or_insert(0) += 1;
        }
        counts
    }

    /// The report as one JSON object: `clean`, `checkouts`, `terminal`, `products`, `counts`
    /// (by kind name) and `violations` (`kind`, `subject`, `detail`).
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"clean\":");
        out.push_str(if self.is_clean() { "true" } else { "false" });
        out.push_str(&format!(
            ",\"checkouts\":{},\"terminal\":{{",
            self.checkouts
        ));
        for (index, (status, count)) in self.terminal.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_json_string(&mut out, status);
            out.push_str(&format!(":{count}"));
        }
        out.push_str(&format!(
            "}},\"products\":{},\"copied_commands\":{},\"counts\":{{",
            self.products, self.copied_commands
        ));
        for (index, (kind, count)) in self.counts().iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            push_json_string(&mut out, kind.as_str());
            out.push_str(&format!(":{count}"));
        }
        out.push_str("},\"violations\":[");
        for (index, violation) in self.violations.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str("{\"kind\":");
            push_json_string(&mut out, violation.kind.as_str());
            out.push_str(",\"subject\":");
            push_json_string(&mut out, &violation.subject);
            out.push_str(",\"detail\":");
            push_json_string(&mut out, &violation.detail);
            out.push('}');
        }
        out.push_str("]}");
        out
    }
}

/// A summary line, then one line per violation.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} checkouts (", self.checkouts)?;
        if self.terminal.is_empty() {
            f.write_str("none terminal")?;
        }
        for (index, (status, count)) in self.terminal.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{status} {count}")?;
        }
        write!(f, "), {} products", self.products)?;
        if self.copied_commands > 0 {
            write!(f, ", {} command records copied", self.copied_commands)?;
        }
        f.write_str(": ")?;
        if self.is_clean() {
            return f.write_str("clean");
        }
        write!(f, "{} violations (", self.violations.len())?;
        for (index, (kind, count)) in self.counts().iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{kind} {count}")?;
        }
        f.write_str(")")?;
        for violation in &self.violations {
            write!(f, "\n{violation}")?;
        }
        Ok(())
    }
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            checkouts: 2,
            terminal: BTreeMap::from([("CONFIRMED".to_owned(), 1)]),
            products: 1,
            copied_commands: 0,
            violations: vec![Violation {
                kind: ViolationKind::NotTerminal,
                subject: "o-\"2\"".to_owned(),
                detail: "line\nbreak\u{1}".to_owned(),
            }],
        }
    }

    #[test]
    fn every_kind_has_a_distinct_snake_case_name() {
        let names: std::collections::BTreeSet<&str> =
            ViolationKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ViolationKind::ALL.len());
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
        }
        let mut sorted = ViolationKind::ALL;
        sorted.sort();
        assert_eq!(sorted, ViolationKind::ALL, "ALL is in report order");
    }

    #[test]
    fn display_summarises_then_lists_each_violation() {
        let text = report().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "2 checkouts (CONFIRMED 1), 1 products: 1 violations (not_terminal 1)"
        );
        assert!(lines[1].starts_with("not_terminal o-\"2\": line"), "{text}");
        let clean = Report {
            violations: Vec::new(),
            ..report()
        };
        assert!(clean.is_clean());
        assert_eq!(
            clean.to_string(),
            "2 checkouts (CONFIRMED 1), 1 products: clean"
        );
        let copied = Report {
            copied_commands: 3,
            ..clean
        };
        assert_eq!(
            copied.to_string(),
            "2 checkouts (CONFIRMED 1), 1 products, 3 command records copied: clean"
        );
    }

    #[test]
    fn json_escapes_strings() {
        assert_eq!(
            report().to_json(),
            "{\"clean\":false,\"checkouts\":2,\"terminal\":{\"CONFIRMED\":1},\"products\":1,\
             \"copied_commands\":0,\"counts\":{\"not_terminal\":1},\"violations\":[{\"kind\":\"not_terminal\",\
             \"subject\":\"o-\\\"2\\\"\",\"detail\":\"line\\nbreak\\u0001\"}]}"
        );
    }
}
