//! The figures a chaos run is judged by: checkouts sent and ended, and lost, duplicated and
//! oversold, each of which must be 0, from the client's view, the topics' view (the invariant
//! checker) and the read model's.

use crate::audit::ReadModelAudit;
use serde::Serialize;
use shop_loadgen::LoadReport;
use shop_processors::invariants::{Report, ViolationKind};
use std::collections::BTreeMap;

/// Violations that mean something was lost: an order or command that never ended.
const LOST: [ViolationKind; 2] = [ViolationKind::NotTerminal, ViolationKind::MissingOutcome];
/// Violations that mean something happened twice.
const DUPLICATED: [ViolationKind; 5] = [
    ViolationKind::DuplicateCheckout,
    ViolationKind::MultipleTerminal,
    ViolationKind::DuplicatePayment,
    ViolationKind::DuplicateCommit,
    ViolationKind::DuplicateOutcome,
];
/// Violations that mean stock that was not there was sold.
const OVERSOLD: [ViolationKind; 2] = [ViolationKind::Oversold, ViolationKind::NegativeStock];

/// The run's bottom line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Checkout requests the load generator sent (answered or not).
    pub checkouts_sent: u64,
    /// Checkouts the ingress answered 202.
    pub checkouts_accepted: u64,
    /// Orders on `checkout.requested` (including any whose 202 the client never saw).
    pub orders_requested: usize,
    /// Orders by terminal status, from the topics.
    pub terminal: BTreeMap<String, usize>,
    /// Orders or commands that never ended (topics), plus accepted checkouts of which the
    /// client saw no status at all.
    pub lost: usize,
    /// Things that happened twice: checkouts, terminal events, payments, stock commits,
    /// outcomes.
    pub duplicated: usize,
    /// Units sold beyond stock (topics), plus scarce-product confirmations beyond its stock
    /// (client).
    pub oversold: usize,
    /// Ingress commands whose record was written more than once (the processors must drop
    /// the copies: any second outcome is counted in `duplicated`).
    pub copied_commands: usize,
    /// Every violation the invariant checker found, by kind (the three above included).
    pub violations: BTreeMap<String, usize>,
    /// Rows of the read model that disagree with the topics.
    pub read_model_differences: usize,
    /// Exits nobody asked for, over all instances (restarted, and a finding, but not a broken
    /// promise: the pipeline is built to survive them).
    pub unplanned_exits: usize,
    /// Faults that could not be carried out (the run then proved less than it claims).
    pub failed_faults: usize,
    /// Why the checks could not finish, if they could not (then nothing above is proven).
    pub check_error: Option<String>,
    /// No promise broken, every fault carried out and every check finished.
    pub passed: bool,
}

/// Judges a run from what the load generator, the invariant checker and the read-model audit
/// found.
pub fn judge(
    load: &LoadReport,
    invariants: &Report,
    read_model: &ReadModelAudit,
    unplanned_exits: usize,
    failed_faults: usize,
    check_error: Option<String>,
) -> Verdict {
    let count = |kinds: &[ViolationKind]| -> usize {
        kinds.iter().map(|kind| invariants.count(*kind)).sum()
    };
    let orders = &load.orders;
    // Accepted checkouts the client saw nothing of, not even PENDING: lost before the topics
    // the checker reads (those that reached them are counted there, as not_terminal).
    let unseen_by_client = orders.timed_out.get("none").copied().unwrap_or(0);
    let scarce_oversold = orders
        .scarce_confirmed
        .saturating_sub(u64::from(orders.scarce_stock));
    let lost = count(&LOST) + to_usize(unseen_by_client);
    let duplicated = count(&DUPLICATED);
    let oversold = count(&OVERSOLD) + to_usize(scarce_oversold);
    let violations: BTreeMap<String, usize> = invariants
        .counts()
        .into_iter()
        .map(|(kind, n)| (kind.as_str().to_owned(), n))
        .collect();
    let read_model_differences = read_model.differences();
    let passed = invariants.is_clean()
        && lost == 0
        && oversold == 0
        && read_model_differences == 0
        && failed_faults == 0
        && check_error.is_none();
    Verdict {
        checkouts_sent: load.checkout.sent,
        checkouts_accepted: orders.checkouts_accepted,
        orders_requested: invariants.checkouts,
        terminal: invariants.terminal.clone(),
        lost,
        duplicated,
        oversold,
        copied_commands: invariants.copied_commands,
        violations,
        read_model_differences,
        unplanned_exits,
        failed_faults,
        check_error,
        passed,
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::TableAudit;
    use shop_processors::invariants::Violation;

    fn clean_invariants() -> Report {
        Report {
            checkouts: 3,
            terminal: BTreeMap::from([("CONFIRMED".to_owned(), 3)]),
            ..Report::default()
        }
    }

    fn violation(kind: ViolationKind) -> Violation {
        Violation {
            kind,
            subject: "order o1".to_owned(),
            detail: "test".to_owned(),
        }
    }

    #[test]
    fn a_clean_run_passes() {
        let verdict = judge(
            &LoadReport::default(),
            &clean_invariants(),
            &ReadModelAudit::default(),
            1,
            0,
            None,
        );
        assert!(verdict.passed, "{verdict:?}");
        assert_eq!(
            (verdict.lost, verdict.duplicated, verdict.oversold),
            (0, 0, 0)
        );
        assert_eq!(verdict.unplanned_exits, 1);
    }

    #[test]
    fn each_kind_of_broken_promise_is_counted_where_it_belongs_and_fails_the_run() {
        let mut invariants = clean_invariants();
        invariants.violations = vec![
            violation(ViolationKind::NotTerminal),
            violation(ViolationKind::MultipleTerminal),
            violation(ViolationKind::DuplicatePayment),
            violation(ViolationKind::Oversold),
            violation(ViolationKind::LeakedReservation),
        ];
        let verdict = judge(
            &LoadReport::default(),
            &invariants,
            &ReadModelAudit::default(),
            0,
            0,
            None,
        );
        assert_eq!(
            (verdict.lost, verdict.duplicated, verdict.oversold),
            (1, 2, 1)
        );
        assert_eq!(verdict.violations.get("leaked_reservation"), Some(&1));
        assert!(!verdict.passed);
    }

    #[test]
    fn what_only_the_client_saw_counts_too() {
        let mut load = LoadReport::default();
        load.orders.timed_out.insert("none".to_owned(), 2);
        // Seen PENDING, so on the topics: the checker counts it, not the client.
        load.orders.timed_out.insert("PENDING".to_owned(), 5);
        load.orders.scarce_stock = 10;
        load.orders.scarce_confirmed = 11;
        let verdict = judge(
            &load,
            &clean_invariants(),
            &ReadModelAudit::default(),
            0,
            0,
            None,
        );
        assert_eq!((verdict.lost, verdict.oversold), (2, 1));
        assert!(!verdict.passed);
    }

    #[test]
    fn a_check_that_could_not_finish_fails_the_run() {
        let verdict = judge(
            &LoadReport::default(),
            &clean_invariants(),
            &ReadModelAudit::default(),
            0,
            0,
            Some("inventory.stock was not read to its end".to_owned()),
        );
        assert!(!verdict.passed);
    }

    #[test]
    fn a_read_model_difference_or_a_fault_not_carried_out_fails_the_run() {
        let stale = ReadModelAudit {
            orders: TableAudit {
                different: 1,
                ..TableAudit::default()
            },
            ..ReadModelAudit::default()
        };
        let load = LoadReport::default();
        assert!(!judge(&load, &clean_invariants(), &stale, 0, 0, None).passed);
        assert!(
            !judge(
                &load,
                &clean_invariants(),
                &ReadModelAudit::default(),
                0,
                1,
                None
            )
            .passed
        );
    }
}
