//! The built-in dashboard in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), against the monitor's real router and reports built by hand: it renders
//! groups, statuses, partitions, topics and charts, follows new samples without a reload, says
//! so before the first sample and when the monitor is unreachable. Screenshots land in
//! `target/test-artifacts/`. Lag maths is the `lag` test's business, not this one's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/browser.rs"]
mod browser;
mod helpers;

use helpers::{
    HOSTILE_REASON, ORDERS, PROJECTOR, WAIT, artifact, card, falling_behind, js, now_ms, recovered,
    report, row, spawn_dashboard,
};
use serde_json::{Value, json};

/// Samples in the history the page first loads.
const HISTORY: i64 = 40;

#[tokio::test(flavor = "multi_thread")]
async fn renders_a_report_and_follows_new_samples_without_reloading() {
    let dash = spawn_dashboard().await;
    let last = now_ms();
    for i in 0..HISTORY {
        let at = last - (HISTORY - 1 - i) * 1_000;
        dash.state
            .publish(falling_behind(at, (i + 1) as f64 / HISTORY as f64));
    }
    dash.open().await;
    dash.wait_rendered(last).await;

    // Partitions: numbers, unknown seconds, a partition never committed, worst first.
    let behind = row(ORDERS, "checkout.requested", 1);
    dash.wait_text(&format!("{behind} [data-field=lag_records]"), "1,234")
        .await;
    assert_eq!(
        dash.text(&format!("{behind} [data-field=lag_seconds]"))
            .await,
        "12.5 s"
    );
    assert_eq!(
        dash.text(&format!("{behind} [data-field=status] [data-status]"))
            .await,
        "WARNING"
    );
    let unknown = row(ORDERS, "inventory.events", 1);
    assert_eq!(
        dash.text(&format!("{unknown} [data-field=lag_seconds]"))
            .await,
        "—",
        "null lag_seconds shows a dash"
    );
    let never = row(PROJECTOR, "orders.events", 1);
    assert_eq!(
        dash.text(&format!("{never} [data-field=committed_offset]"))
            .await,
        "—"
    );
    let order = dash
        .browser
        .execute(
            "return [...document.querySelectorAll('#partitions tbody tr')].map(r => \
             `${r.dataset.group}/${r.dataset.topic}/${r.dataset.partition}`);",
            json!([]),
        )
        .await;
    assert_eq!(order.as_array().map(Vec::len), Some(7), "{order}");
    assert_eq!(
        order.as_array().unwrap()[0..3],
        [
            json!("shop-projector/orders.events/0"),
            json!("shop-projector/orders.events/1"),
            json!("shop-orders/checkout.requested/1"),
        ],
        "STOPPED, then STALLED, then WARNING first: {order}"
    );

    // Group cards and their badges.
    assert_eq!(
        badges(&dash).await,
        json!({ ORDERS: "WARNING", PROJECTOR: "STOPPED" })
    );
    assert_eq!(
        dash.text(&format!("{} [data-field=lag_records]", card(ORDERS)))
            .await,
        "1,259 rec"
    );
    assert_eq!(
        dash.text(&format!("{} [data-field=members]", card(PROJECTOR)))
            .await,
        "0 members · Empty"
    );

    // Text from Kafka is text, never markup.
    let reason = row(PROJECTOR, "orders.events", 0);
    assert_eq!(
        dash.text(&format!("{reason} [data-field=reason]")).await,
        HOSTILE_REASON
    );
    let injected = dash
        .browser
        .execute(
            "return window.__injected === undefined && !document.querySelector('img');",
            json!([]),
        )
        .await;
    assert_eq!(injected, json!(true), "a reason's markup was rendered");

    // Topics and charts.
    assert_eq!(
        dash.text("#topics tr[data-topic=\"checkout.requested\"] [data-field=produce_rate]")
            .await,
        "41.5/s"
    );
    assert_eq!(
        chart_points(&dash, "records").await,
        json!({ ORDERS: HISTORY, PROJECTOR: HISTORY })
    );
    assert_eq!(
        chart_points(&dash, "seconds").await,
        json!({ ORDERS: HISTORY, PROJECTOR: HISTORY })
    );
    dash.browser
        .screenshot_full_page(&artifact("dashboard.png"))
        .await;

    // A new sample: the same page (no reload) shows it, and the charts grow by one point.
    dash.browser
        .execute("window.__samePage = true;", json!([]))
        .await;
    let next = now_ms().max(last + 1_000);
    dash.state.publish(recovered(next));
    dash.wait_rendered(next).await;
    assert_eq!(
        dash.text(&format!("{behind} [data-field=lag_records]"))
            .await,
        "42"
    );
    assert_eq!(
        dash.text(&format!("{behind} [data-field=lag_seconds]"))
            .await,
        "0.80 s"
    );
    assert_eq!(
        badges(&dash).await,
        json!({ ORDERS: "OK", PROJECTOR: "REWIND" })
    );
    assert_eq!(
        dash.browser
            .execute("return window.__samePage === true;", json!([]))
            .await,
        json!(true),
        "the page reloaded"
    );
    assert_eq!(
        chart_points(&dash, "records").await,
        json!({ ORDERS: HISTORY + 1, PROJECTOR: HISTORY + 1 }),
        "the page fetches only newer history points, each once"
    );

    // Sorting: a second click on a column turns it ascending, and the order survives polls.
    dash.browser
        .execute(
            "const th = document.querySelector('#partitions th[data-sort=lag_records]'); \
             th.click(); th.click();",
            json!([]),
        )
        .await;
    dash.browser
        .wait_until(
            "the table is sorted by lag records, smallest first, for two polls",
            WAIT,
            "const rows = [...document.querySelectorAll('#partitions tbody tr')]; \
             const last = rows[rows.length - 1].dataset; \
             window.__sortedSince ??= Date.now(); \
             return rows[0].querySelector('[data-field=lag_records]').textContent === '0' && \
             last.group === 'shop-projector' && last.partition === '0' && \
             Date.now() - window.__sortedSince > 2500;",
        )
        .await;

    // One group's topics instead of the groups.
    let topics = scope(&dash, ORDERS).await;
    assert_eq!(
        topics,
        json!({ "checkout.requested": HISTORY + 1, "inventory.events": HISTORY + 1 })
    );
    dash.browser
        .screenshot(&artifact("dashboard-topics.png"))
        .await;
    assert_eq!(
        scope(&dash, "").await,
        json!({ ORDERS: HISTORY + 1, PROJECTOR: HISTORY + 1 })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_for_the_first_sample_then_shows_a_monitor_without_groups() {
    let dash = spawn_dashboard().await;
    dash.open().await;
    dash.browser
        .wait_until(
            "the page says it waits for the first sample",
            WAIT,
            "const waiting = document.getElementById('waiting'); \
             return document.body.dataset.state === 'waiting' && !waiting.hidden && \
             waiting.innerText.toLowerCase().includes('waiting for the first sample');",
        )
        .await;
    assert_eq!(
        dash.browser
            .execute(
                "return document.getElementById('content').hidden && \
                 document.getElementById('banner').hidden;",
                json!([])
            )
            .await,
        json!(true),
        "a 503 is no error and shows no data"
    );
    dash.browser
        .screenshot(&artifact("dashboard-waiting.png"))
        .await;

    let at = now_ms();
    dash.state.publish(report(at, Vec::new()));
    dash.wait_rendered(at).await;
    assert_eq!(
        dash.text("[data-field=no-groups]").await,
        "No consumer groups are monitored yet."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shows_a_banner_while_the_monitor_is_unreachable_and_recovers() {
    let mut dash = spawn_dashboard().await;
    let first = now_ms();
    dash.state.publish(falling_behind(first, 1.0));
    dash.open().await;
    dash.wait_rendered(first).await;

    dash.stop_server();
    dash.browser
        .wait_until(
            "the page shows the unreachable banner",
            WAIT,
            "const banner = document.getElementById('banner'); \
             return !banner.hidden && banner.textContent.includes('Cannot reach the monitor') && \
             document.body.dataset.state === 'error';",
        )
        .await;
    assert_eq!(
        dash.text(&format!(
            "{} [data-field=lag_records]",
            row(ORDERS, "checkout.requested", 1)
        ))
        .await,
        "1,234",
        "the last report stays on screen"
    );

    dash.restart_server().await;
    let next = now_ms().max(first + 1_000);
    dash.state.publish(recovered(next));
    dash.wait_rendered(next).await;
    assert_eq!(
        dash.browser
            .execute(
                "return document.getElementById('banner').hidden;",
                json!([])
            )
            .await,
        json!(true),
        "the banner goes once the monitor answers again"
    );
}

/// Each group card's badge, by group.
async fn badges(dash: &helpers::TestDashboard) -> Value {
    dash.browser
        .execute(
            "return Object.fromEntries([...document.querySelectorAll('.card[data-group]')].map(c => \
             [c.dataset.group, c.querySelector('[data-status]').dataset.status]));",
            json!([]),
        )
        .await
}

/// Points drawn per line of the chart of `which` (records | seconds), by line.
async fn chart_points(dash: &helpers::TestDashboard, which: &str) -> Value {
    dash.browser
        .execute(
            "return Object.fromEntries([...document.querySelectorAll(\
             `[data-chart=\"${arguments[0]}\"] path[data-series]`)].map(p => \
             [p.dataset.series, Number(p.dataset.points)]));",
            json!([which]),
        )
        .await
}

/// Chooses `group` in the chart selector ('' for all groups) and returns the record chart's lines.
async fn scope(dash: &helpers::TestDashboard, group: &str) -> Value {
    dash.browser
        .execute(
            &format!(
                "const select = document.getElementById('scope'); select.value = {}; \
                 select.dispatchEvent(new Event('change'));",
                js(group)
            ),
            json!([]),
        )
        .await;
    chart_points(dash, "records").await
}
