//! The checks: a pure function of what was read.

use super::observed::Observed;
use super::report::{Report, Violation, ViolationKind};
use shop_schemas::inventory::{InventoryCommandBody, InventoryEventBody};
use shop_schemas::orders::OrderStatus;
use shop_schemas::payment::PaymentEventBody;
use std::collections::{BTreeMap, BTreeSet};

/// Checks every invariant of `observed` (see `docs/invariants.md`) and reports each violation.
///
/// Meant for topics read after the pipeline went quiet: during a run, orders still in flight
/// show up as `not_terminal`, and topics read a moment apart need not agree on stock.
pub fn check(observed: &Observed) -> Report {
    let facts = Facts::new(observed);
    let mut found = Found::default();
    check_checkouts(&facts, &mut found);
    check_terminals(observed, &facts, &mut found);
    check_unknown_orders(observed, &facts, &mut found);
    check_state(observed, &facts, &mut found);
    let products = check_stock(observed, &mut found);
    check_reservations(observed, &facts, &mut found);
    check_payments(observed, &facts, &mut found);
    check_commits(observed, &facts, &mut found);
    let copied_commands = check_outcomes(observed, &mut found);
    for record in &observed.undecodable {
        found.add(
            ViolationKind::Undecodable,
            format!("{}/{}/{}", record.topic, record.partition, record.offset),
            format!(
                "the record at offset {} of partition {} of {} does not decode: {}",
                record.offset, record.partition, record.topic, record.reason
            ),
        );
    }

    let mut terminal = BTreeMap::new();
    for order in facts.requested.keys() {
        if let Some(status) = facts.final_status(order) {
            *terminal.entry(status_name(status).to_owned()).or_insert(0) += 1;
        }
    }
    let mut violations = found.0;
    violations.sort_by(|a, b| (a.kind, &a.subject).cmp(&(b.kind, &b.subject)));
    Report {
        checkouts: facts.requested.len(),
        terminal,
        products,
        copied_commands,
        violations,
    }
}

#[derive(Default)]
struct Found(Vec<Violation>);

impl Found {
    fn add(&mut self, kind: ViolationKind, subject: impl Into<String>, detail: String) {
        self.0.push(Violation {
            kind,
            subject: subject.into(),
            detail,
        });
    }
}

/// What several checks need about orders.
struct Facts<'a> {
    /// Order id → how often it was requested.
    requested: BTreeMap<&'a str, usize>,
    /// Order id → the statuses of its events, in log order.
    events: BTreeMap<&'a str, Vec<OrderStatus>>,
}

impl<'a> Facts<'a> {
    fn new(observed: &'a Observed) -> Self {
        let mut requested = BTreeMap::new();
        for checkout in &observed.checkouts {
            *requested.entry(checkout.order_id.as_str()).or_insert(0) += 1;
        }
        let mut events: BTreeMap<&str, Vec<OrderStatus>> = BTreeMap::new();
        for event in &observed.order_events {
            events
                .entry(event.order_id.as_str())
                .or_default()
                .push(event.status);
        }
        Self { requested, events }
    }

    /// The terminal statuses of `order`'s events, in log order.
    fn terminals(&self, order: &str) -> Vec<OrderStatus> {
        self.events
            .get(order)
            .map(|statuses| {
                statuses
                    .iter()
                    .copied()
                    .filter(|s| s.is_terminal())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How `order` ended: the status of its last terminal event, if it has one.
    fn final_status(&self, order: &str) -> Option<OrderStatus> {
        self.events
            .get(order)?
            .iter()
            .rev()
            .copied()
            .find(|s| s.is_terminal())
    }
}

fn status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "PENDING",
        OrderStatus::StockReserved => "STOCK_RESERVED",
        OrderStatus::Confirmed => "CONFIRMED",
        OrderStatus::Rejected => "REJECTED",
        OrderStatus::Cancelled => "CANCELLED",
    }
}

fn status_list(statuses: &[OrderStatus]) -> String {
    statuses
        .iter()
        .map(|s| status_name(*s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check 1: duplicate_checkout.
fn check_checkouts(facts: &Facts<'_>, found: &mut Found) {
    for (&order, &count) in &facts.requested {
        if count > 1 {
            found.add(
                ViolationKind::DuplicateCheckout,
                order,
                format!("order {order} was requested {count} times on checkout.requested"),
            );
        }
    }
}

/// Check 2: not_terminal, multiple_terminal.
fn check_terminals(observed: &Observed, facts: &Facts<'_>, found: &mut Found) {
    for &order in facts.requested.keys() {
        if facts.final_status(order).is_none() {
            let last = match facts.events.get(order).and_then(|s| s.last()) {
                Some(status) => format!("its last event is {}", status_name(*status)),
                None => "it has no events".to_owned(),
            };
            let state = match observed.orders.get(order) {
                Some(state) => format!("state {}", status_name(state.status)),
                None => "no state on orders.orders".to_owned(),
            };
            found.add(
                ViolationKind::NotTerminal,
                order,
                format!("order {order} never ended: {last} on orders.events ({state})"),
            );
        }
    }
    for &order in facts.events.keys() {
        let terminals = facts.terminals(order);
        if terminals.len() > 1 {
            found.add(
                ViolationKind::MultipleTerminal,
                order,
                format!(
                    "order {order} ended {} times: {}",
                    terminals.len(),
                    status_list(&terminals)
                ),
            );
        }
    }
}

/// Check 3: unknown_order: events or saga state for an order never requested.
fn check_unknown_orders(observed: &Observed, facts: &Facts<'_>, found: &mut Found) {
    let mut unknown: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for (&order, statuses) in &facts.events {
        if !facts.requested.contains_key(order) {
            unknown.entry(order).or_default().0 = statuses.len();
        }
    }
    for order in observed.orders.keys() {
        if !facts.requested.contains_key(order.as_str()) {
            unknown.entry(order.as_str()).or_default().1 = true;
        }
    }
    for (order, (events, has_state)) in unknown {
        let mut seen = Vec::new();
        if events > 0 {
            seen.push(format!("{events} events on orders.events"));
        }
        if has_state {
            seen.push("a record on orders.orders".to_owned());
        }
        found.add(
            ViolationKind::UnknownOrder,
            order,
            format!(
                "order {order} was never requested on checkout.requested but has {}",
                seen.join(" and ")
            ),
        );
    }
}

/// Check 4: state_mismatch: the saga state of an order that ended agrees with how it ended.
fn check_state(observed: &Observed, facts: &Facts<'_>, found: &mut Found) {
    for &order in facts.events.keys() {
        let Some(ended) = facts.final_status(order) else {
            continue;
        };
        let detail = match observed.orders.get(order) {
            None => format!(
                "order {order} ended {} on orders.events but has no record on orders.orders",
                status_name(ended)
            ),
            Some(state) if state.status != ended => format!(
                "order {order} ended {} on orders.events but its newest orders.orders record \
                 is {}",
                status_name(ended),
                status_name(state.status)
            ),
            Some(_) => continue,
        };
        found.add(ViolationKind::StateMismatch, order, detail);
    }
}

/// Check 5: stock_balance, negative_stock, reserved_mismatch, oversold. Returns how many
/// products there are.
fn check_stock(observed: &Observed, found: &mut Found) -> usize {
    let mut restocked: BTreeMap<&str, i64> = BTreeMap::new();
    for command in &observed.inventory_commands {
        if let InventoryCommandBody::Restock(restock) = &command.body
            && restock.quantity > 0
        {
            *restocked.entry(restock.product_id.as_str()).or_insert(0) +=
                i64::from(restock.quantity);
        }
    }
    let mut sold: BTreeMap<&str, i64> = BTreeMap::new();
    for event in &observed.inventory_events {
        if let InventoryEventBody::StockCommitted(line) = &event.body {
            *sold.entry(line.product_id.as_str()).or_insert(0) += i64::from(line.quantity);
        }
    }
    let products: BTreeSet<&str> = observed
        .stock
        .keys()
        .map(String::as_str)
        .chain(restocked.keys().copied())
        .chain(sold.keys().copied())
        .collect();

    for &product in &products {
        let restocked = restocked.get(product).copied().unwrap_or(0);
        let sold = sold.get(product).copied().unwrap_or(0);
        let level = observed.stock.get(product);
        let available = level.map_or(0, |l| i64::from(l.available));
        let reserved = level.map_or(0, |l| i64::from(l.reserved));
        let held = available + reserved + sold;
        if held != restocked {
            let missing = if level.is_none() {
                " (no record on inventory.stock)"
            } else {
                ""
            };
            found.add(
                ViolationKind::StockBalance,
                product,
                format!(
                    "product {product}: available {available} + reserved {reserved} + sold \
                     {sold} = {held}{missing}, but {restocked} was restocked ({} {})",
                    if held < restocked { "lost" } else { "created" },
                    (held - restocked).abs()
                ),
            );
        }
        if let Some(level) = level {
            if level.available < 0 || level.reserved < 0 {
                found.add(
                    ViolationKind::NegativeStock,
                    product,
                    format!(
                        "product {product} has available {} and reserved {}",
                        level.available, level.reserved
                    ),
                );
            }
            let open: i64 = level
                .reservations
                .iter()
                .map(|r| i64::from(r.quantity))
                .sum();
            if reserved != open {
                found.add(
                    ViolationKind::ReservedMismatch,
                    product,
                    format!(
                        "product {product} has reserved {reserved} but its {} open \
                         reservations add up to {open}",
                        level.reservations.len()
                    ),
                );
            }
        }
        if sold > restocked {
            found.add(
                ViolationKind::Oversold,
                product,
                format!("product {product}: {sold} sold but only {restocked} restocked"),
            );
        }
    }
    products.len()
}

/// Check 6: leaked_reservation: an order that ended still holds stock.
fn check_reservations(observed: &Observed, facts: &Facts<'_>, found: &mut Found) {
    for (product, level) in &observed.stock {
        for reservation in &level.reservations {
            let order = reservation.order_id.as_str();
            if let Some(ended) = facts.final_status(order) {
                found.add(
                    ViolationKind::LeakedReservation,
                    order,
                    format!(
                        "product {product} still holds a reservation of {} for order {order}, \
                         which ended {}",
                        reservation.quantity,
                        status_name(ended)
                    ),
                );
            }
        }
    }
}

/// Check 7: duplicate_payment, unvoided_charge, confirmed_unpaid.
fn check_payments(observed: &Observed, facts: &Facts<'_>, found: &mut Found) {
    let mut authorized: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut voided: BTreeSet<(&str, &str)> = BTreeSet::new();
    for event in &observed.payment_events {
        match &event.body {
            PaymentEventBody::PaymentAuthorized(auth) => authorized
                .entry(auth.order_id.as_str())
                .or_default()
                .push(auth.authorization_id.as_str()),
            PaymentEventBody::PaymentVoided(void) => {
                voided.insert((void.order_id.as_str(), void.authorization_id.as_str()));
            }
            PaymentEventBody::PaymentDeclined(_) => {}
        }
    }
    for (&order, authorizations) in &authorized {
        if authorizations.len() > 1 {
            found.add(
                ViolationKind::DuplicatePayment,
                order,
                format!(
                    "order {order} was authorized {} times ({})",
                    authorizations.len(),
                    authorizations.join(", ")
                ),
            );
        }
        let Some(ended) = facts.final_status(order) else {
            continue;
        };
        if ended == OrderStatus::Confirmed {
            continue;
        }
        let distinct: BTreeSet<&str> = authorizations.iter().copied().collect();
        for authorization in distinct {
            if !voided.contains(&(order, authorization)) {
                found.add(
                    ViolationKind::UnvoidedCharge,
                    order,
                    format!(
                        "order {order} ended {} but its authorization {authorization} was \
                         never voided",
                        status_name(ended)
                    ),
                );
            }
        }
    }
    for &order in facts.events.keys() {
        if facts.final_status(order) != Some(OrderStatus::Confirmed) {
            continue;
        }
        let authorizations = authorized.get(order).map(Vec::as_slice).unwrap_or_default();
        if authorizations.is_empty() {
            found.add(
                ViolationKind::ConfirmedUnpaid,
                order,
                format!("order {order} ended CONFIRMED without a PaymentAuthorized"),
            );
        } else if authorizations
            .iter()
            .all(|authorization| voided.contains(&(order, *authorization)))
        {
            found.add(
                ViolationKind::ConfirmedUnpaid,
                order,
                format!(
                    "order {order} ended CONFIRMED but every authorization of it was voided \
                     ({})",
                    authorizations.join(", ")
                ),
            );
        }
    }
}

/// Check 8: duplicate_commit, commit_without_confirmation.
/// Every command from the ingress gets exactly one outcome. Outcomes of commands sent by
/// anyone else (none today) are not judged.
///
/// Returns how many commands' records were written more than once.
fn check_outcomes(observed: &Observed, found: &mut Found) -> usize {
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for outcome in &observed.outcomes {
        *outcomes.entry(outcome.command_id.as_str()).or_insert(0) += 1;
    }
    // A record written twice (a producer resending a batch the broker had stored) is still one
    // command; how often it was written tells a copy the processor failed to drop from a
    // record handled twice.
    let mut written: BTreeMap<&str, usize> = BTreeMap::new();
    for command in &observed.command_ids {
        *written.entry(command.as_str()).or_insert(0) += 1;
    }
    let copied = written.values().filter(|records| **records > 1).count();
    for (command, records) in written {
        let copies = if records > 1 {
            format!(" (its record was written {records} times)")
        } else {
            String::new()
        };
        match outcomes.get(command).copied().unwrap_or(0) {
            1 => {}
            0 => found.add(
                ViolationKind::MissingOutcome,
                command,
                format!("command {command} has no outcome on commands.outcomes{copies}"),
            ),
            many => found.add(
                ViolationKind::DuplicateOutcome,
                command,
                format!("command {command} has {many} outcomes, not one{copies}"),
            ),
        }
    }
    copied
}

fn check_commits(observed: &Observed, facts: &Facts<'_>, found: &mut Found) {
    let mut commits: BTreeMap<&str, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for event in &observed.inventory_events {
        if let InventoryEventBody::StockCommitted(line) = &event.body {
            commits
                .entry(line.order_id.as_str())
                .or_default()
                .entry(line.product_id.as_str())
                .or_default()
                .push(line.quantity);
        }
    }
    for (&order, products) in &commits {
        for (&product, quantities) in products {
            if quantities.len() > 1 {
                let quantities: Vec<String> = quantities.iter().map(i32::to_string).collect();
                found.add(
                    ViolationKind::DuplicateCommit,
                    order,
                    format!(
                        "product {product} was committed {} times for order {order} \
                         (quantities {})",
                        quantities.len(),
                        quantities.join(", ")
                    ),
                );
            }
        }
        let ended = match facts.final_status(order) {
            Some(OrderStatus::Confirmed) => continue,
            Some(status) => format!("it ended {}", status_name(status)),
            None => "it has no terminal event".to_owned(),
        };
        let products: Vec<&str> = products.keys().copied().collect();
        found.add(
            ViolationKind::CommitWithoutConfirmation,
            order,
            format!(
                "stock was committed for order {order} (products {}) but {ended}",
                products.join(", ")
            ),
        );
    }
}

#[cfg(test)]
pub(super) mod tests;
