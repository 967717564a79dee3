//! The read model's queries against the real local PostgreSQL. Each test makes a database of
//! its own, migrates it, seeds rows with plain SQL (as the projector would write them) and
//! checks exact ids, order and fields.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

use chrono::{DateTime, Utc};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::testing;
use shop_readmodel::queries::{
    CartLineView, CartView, OrderLineView, OrderSummary, OrderView, Page, PageRequest,
    ProductFilter, ProductView, QueryError, ReadModel, StatusChange, StockView,
};
use sqlx::PgPool;

/// A database of the test's own, migrated; dropped by [`TestDb::drop`] at the end (a failed
/// test leaves it behind, under a name no other test uses, for a look).
struct TestDb {
    admin: PgPool,
    name: String,
    pool: PgPool,
}

impl TestDb {
    async fn new() -> Self {
        testing::init_logs();
        let settings = DatabaseSettings::new(testing::database_url());
        let admin = database::connect(&settings).await.unwrap();
        let name = testing::unique("readmodel_queries");
        // `name` is ours: letters, digits and underscores from `testing::unique`.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let pool = database::connect(&settings.with_database(&name).unwrap())
            .await
            .unwrap();
        shop_readmodel::MIGRATOR.run(&pool).await.unwrap();
        Self { admin, name, pool }
    }

    fn model(&self) -> ReadModel {
        ReadModel::new(self.pool.clone())
    }

    async fn drop(self) {
        self.pool.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

/// A fixed instant, `seconds` after a base, with microseconds (the database's precision) so a
/// round trip that lost them would show.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_790_000_000_000_000 + seconds * 1_000_000 + 123_456).unwrap()
}

async fn insert_product(pool: &PgPool, id: &str, name: &str, description: &str, price: i64) {
    sqlx::query(
        "INSERT INTO products
             (product_id, name, description, price_cents, currency, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'EUR', 3, $5, $6)",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(price)
    .bind(at(0))
    .bind(at(60))
    .execute(pool)
    .await
    .unwrap();
}

async fn insert_stock(pool: &PgPool, id: &str, available: i32, reserved: i32) {
    sqlx::query(
        "INSERT INTO stock_levels (product_id, available, reserved, version, updated_at)
         VALUES ($1, $2, $3, 7, $4)",
    )
    .bind(id)
    .bind(available)
    .bind(reserved)
    .bind(at(120))
    .execute(pool)
    .await
    .unwrap();
}

async fn insert_order(pool: &PgPool, id: &str, user: &str, status: &str, created: i64) {
    sqlx::query(
        "INSERT INTO orders (order_id, user_id, status, total_cents, currency, authorization_id,
                             reason, version, created_at, updated_at)
         VALUES ($1, $2, $3, 4200, 'EUR', NULL, NULL, 1, $4, $5)",
    )
    .bind(id)
    .bind(user)
    .bind(status)
    .bind(at(created))
    .bind(at(created + 5))
    .execute(pool)
    .await
    .unwrap();
}

async fn insert_history(pool: &PgPool, event: &str, order: &str, status: &str, when: i64) {
    sqlx::query(
        "INSERT INTO order_status_history
             (event_id, order_id, status, previous_status, reason, occurred_at)
         VALUES ($1, $2, $3, NULL, NULL, $4)",
    )
    .bind(event)
    .bind(order)
    .bind(status)
    .bind(at(when))
    .execute(pool)
    .await
    .unwrap();
}

fn ids(page: &Page<ProductView>) -> Vec<&str> {
    page.items.iter().map(|p| p.product_id.as_str()).collect()
}

async fn search_ids(model: &ReadModel, q: &str) -> Vec<String> {
    let filter = ProductFilter {
        q: Some(q.to_owned()),
        ..ProductFilter::default()
    };
    let page = model
        .list_products(&filter, &PageRequest::new(100, None))
        .await
        .unwrap_or_else(|error| panic!("searching {q:?}: {error}"));
    assert_eq!(page.next_cursor, None);
    page.items.into_iter().map(|p| p.product_id).collect()
}

/// Walks every page of the product list and returns the ids in order, checking each page's
/// size and that only the last page lacks a cursor.
async fn walk(model: &ReadModel, filter: &ProductFilter, limit: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = model
            .list_products(filter, &PageRequest::new(limit, cursor))
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|p| p.product_id.clone()));
        match page.next_cursor {
            Some(next) => {
                let full = PageRequest::new(limit, None).limit as usize;
                assert_eq!(page.items.len(), full, "a full page before the last");
                cursor = Some(next);
            }
            None => return seen,
        }
        assert!(seen.len() <= 1_000, "the walk does not end");
    }
}

/// 25 products inserted out of order; names repeat so that ties are broken by id. Names and
/// ids are lowercase letters and digits of one length: every collation orders them bytewise.
async fn seed_catalog(pool: &PgPool) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..25 {
        let shuffled = (i * 7) % 25;
        let id = format!("p{shuffled:02}");
        let name = format!("item{:02}", (shuffled * 3) % 10);
        insert_product(pool, &id, &name, "thing", 100 + i64::from(shuffled)).await;
        expected.push((name, id));
    }
    expected.sort();
    expected.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn keyset_pages_visit_every_product_once() {
    let db = TestDb::new().await;
    let model = db.model();
    let expected = seed_catalog(&db.pool).await;
    assert_eq!(expected.len(), 25);
    // Ties in name are ordered by id: p00, p10 and p20 are all "item00".
    assert_eq!(&expected[..3], ["p00", "p10", "p20"]);

    for limit in [1, 7, 24, 25, 26, 100] {
        let seen = walk(&model, &ProductFilter::default(), limit).await;
        assert_eq!(seen, expected, "limit {limit}");
    }

    // Exactly one full page: no cursor, since there is nothing after it.
    let page = model
        .list_products(&ProductFilter::default(), &PageRequest::new(25, None))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 25);
    assert_eq!(page.next_cursor, None);

    // Limits are clamped: 0 serves one item, 1,000 serves the 25 there are, and a limit
    // written straight into the public field is clamped too.
    let page = model
        .list_products(&ProductFilter::default(), &PageRequest::new(0, None))
        .await
        .unwrap();
    assert_eq!(ids(&page), [expected[0].as_str()]);
    assert!(page.next_cursor.is_some());
    assert_eq!(PageRequest::new(1_000, None).limit, 100);
    let raw = PageRequest {
        limit: 0,
        cursor: None,
    };
    let page = model
        .list_products(&ProductFilter::default(), &raw)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    db.drop().await;
}

#[tokio::test]
async fn pages_over_more_than_the_largest_page() {
    let db = TestDb::new().await;
    let model = db.model();
    let mut expected = Vec::new();
    for i in (0..230).rev() {
        let id = format!("x{i:03}");
        insert_product(&db.pool, &id, "same", "", 1).await;
        expected.push(id);
    }
    expected.sort();
    let first = model
        .list_products(&ProductFilter::default(), &PageRequest::new(500, None))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 100, "clamped to the largest page");
    assert_eq!(
        walk(&model, &ProductFilter::default(), 1_000).await,
        expected
    );
    db.drop().await;
}

#[tokio::test]
async fn inserts_during_a_walk_never_repeat_or_skip() {
    let db = TestDb::new().await;
    let model = db.model();
    let expected = seed_catalog(&db.pool).await;
    let all = ProductFilter::default();

    let first = model
        .list_products(&all, &PageRequest::new(7, None))
        .await
        .unwrap();
    assert_eq!(ids(&first), expected[..7]);
    let last_shown = first.items.last().unwrap().clone();

    // Behind the cursor: before everything, and a tie on the last name with a smaller id.
    insert_product(&db.pool, "a-first", "aaaa", "", 1).await;
    insert_product(&db.pool, "a00", &last_shown.name, "", 1).await;
    // Ahead of it: must show up in a later page, exactly once.
    insert_product(&db.pool, "zz", "zzzz", "", 1).await;
    // And one taken away ahead of the cursor: simply not there.
    sqlx::query("DELETE FROM products WHERE product_id = $1")
        .bind(&expected[20])
        .execute(&db.pool)
        .await
        .unwrap();

    let mut rest = Vec::new();
    let mut cursor = first.next_cursor.clone();
    while let Some(next) = cursor {
        let page = model
            .list_products(&all, &PageRequest::new(7, Some(next)))
            .await
            .unwrap();
        rest.extend(page.items.iter().map(|p| p.product_id.clone()));
        cursor = page.next_cursor;
    }
    let mut wanted: Vec<String> = expected[7..]
        .iter()
        .filter(|id| **id != expected[20])
        .cloned()
        .collect();
    wanted.push("zz".to_owned());
    assert_eq!(rest, wanted);

    // The same cursor again still starts right after the item it was made from.
    let again = model
        .list_products(&all, &PageRequest::new(1, first.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(ids(&again), [expected[7].as_str()]);
    db.drop().await;
}

async fn seed_search(pool: &PgPool) {
    insert_product(
        pool,
        "red-shoe",
        "Red Running Shoe",
        "light, for roads",
        8_900,
    )
    .await;
    insert_product(pool, "lace", "Blue Shoelace", "spare laces", 300).await;
    insert_product(pool, "hat", "Green Hat", "a woollen hat for winter", 2_500).await;
    insert_product(
        pool,
        "cafe",
        "Café Crème",
        "Ünïcode beans from İstanbul",
        1_200,
    )
    .await;
    insert_product(
        pool,
        "quote",
        "It's \"quoted\"",
        "t-shirt & (brackets) | 100%",
        999,
    )
    .await;
    insert_product(pool, "kanji", "日本語 Book", "read:* me", 1_500).await;
}

#[tokio::test]
async fn search_finds_words_and_prefixes_of_the_last_word() {
    let db = TestDb::new().await;
    let model = db.model();
    seed_search(&db.pool).await;

    // Ordered by name: "Blue Shoelace" before "Red Running Shoe".
    assert_eq!(search_ids(&model, "shoe").await, ["lace", "red-shoe"]);
    assert_eq!(search_ids(&model, "sho").await, ["lace", "red-shoe"]);
    assert_eq!(search_ids(&model, "running shoe").await, ["red-shoe"]);
    assert_eq!(search_ids(&model, "shoe red").await, ["red-shoe"]);
    // Only the last word is a prefix.
    assert_eq!(search_ids(&model, "sho red").await, Vec::<String>::new());
    // Description, case, and every word must match.
    assert_eq!(search_ids(&model, "WOOLLEN").await, ["hat"]);
    assert_eq!(search_ids(&model, "hat winter").await, ["hat"]);
    assert_eq!(search_ids(&model, "hat summer").await, Vec::<String>::new());
    // Letters beyond ASCII, lower-cased by the database on both sides.
    assert_eq!(search_ids(&model, "café").await, ["cafe"]);
    assert_eq!(search_ids(&model, "CRÈ").await, ["cafe"]);
    assert_eq!(search_ids(&model, "istanbul").await, ["cafe"]);
    assert_eq!(search_ids(&model, "日本語").await, ["kanji"]);
    // Punctuation only separates words.
    assert_eq!(search_ids(&model, "t-shirt").await, ["quote"]);
    assert_eq!(search_ids(&model, "!shoe:*").await, ["lace", "red-shoe"]);
    assert_eq!(search_ids(&model, "'quoted'").await, ["quote"]);
    // Blank is no filter.
    assert_eq!(search_ids(&model, "  ").await.len(), 6);

    // Search, price and pages combine.
    let filter = ProductFilter {
        q: Some("shoe".to_owned()),
        min_price_cents: Some(1_000),
        max_price_cents: None,
    };
    let page = model
        .list_products(&filter, &PageRequest::new(10, None))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["red-shoe"]);
    let filter = ProductFilter {
        q: Some("s".to_owned()),
        ..ProductFilter::default()
    };
    // "s" prefixes shoelace, spare, shoe, shirt and the "s" of "It's".
    let walked = walk(&model, &filter, 1).await;
    assert_eq!(walked, ["lace", "quote", "red-shoe"]);
    db.drop().await;
}

#[tokio::test]
async fn search_never_errors_on_odd_input() {
    let db = TestDb::new().await;
    let model = db.model();
    seed_search(&db.pool).await;

    let long_word = "a".repeat(10_000);
    let many_words = "shoe ".repeat(5_000);
    let odd = [
        "'",
        "''",
        "\"",
        "\\",
        "&|!:*()",
        "& | ! : * ( )",
        "<->",
        "<2>",
        "a & | b",
        "(((",
        "shoe)",
        "'); DROP TABLE products; --",
        "%_",
        "\0",
        "shoe\0red",
        "\u{feff}\u{200b}",
        "🦀🦀",
        "½ ² Ⅻ",
        "e\u{301}",
        "İ",
        long_word.as_str(),
        many_words.as_str(),
    ];
    for q in odd {
        let filter = ProductFilter {
            q: Some(q.to_owned()),
            ..ProductFilter::default()
        };
        let result = model
            .list_products(&filter, &PageRequest::new(100, None))
            .await;
        assert!(result.is_ok(), "{:.40?}: {result:?}", q);
    }
    // Some of them still mean something.
    assert_eq!(search_ids(&model, "shoe\0red").await, ["red-shoe"]);
    // Every "shoe" but the last is a whole word, so the shoelace is not among them.
    assert_eq!(search_ids(&model, &many_words).await, ["red-shoe"]);
    assert_eq!(search_ids(&model, "&|!:*()").await, Vec::<String>::new());
    assert_eq!(search_ids(&model, &long_word).await, Vec::<String>::new());
    // The table is still there.
    assert_eq!(search_ids(&model, "").await.len(), 6);
    db.drop().await;
}

#[tokio::test]
async fn price_filters_are_inclusive_and_checked() {
    let db = TestDb::new().await;
    let model = db.model();
    for (id, price) in [("a", 0), ("b", 100), ("c", 200), ("d", 300), ("e", 400)] {
        insert_product(&db.pool, id, id, "", price).await;
    }
    let prices = |min: Option<i64>, max: Option<i64>| ProductFilter {
        q: None,
        min_price_cents: min,
        max_price_cents: max,
    };
    let page = PageRequest::new(100, None);
    for (min, max, expected) in [
        (Some(100), Some(300), vec!["b", "c", "d"]),
        (Some(200), Some(200), vec!["c"]),
        (Some(0), None, vec!["a", "b", "c", "d", "e"]),
        (Some(301), None, vec!["e"]),
        (None, Some(100), vec!["a", "b"]),
        (None, Some(0), vec!["a"]),
        (Some(401), None, vec![]),
        (Some(150), Some(199), vec![]),
    ] {
        let got = model.list_products(&prices(min, max), &page).await.unwrap();
        assert_eq!(ids(&got), expected, "{min:?}..={max:?}");
    }
    for (min, max) in [
        (Some(300), Some(200)),
        (Some(-1), None),
        (None, Some(-1)),
        (Some(-5), Some(-1)),
    ] {
        let error = model
            .list_products(&prices(min, max), &page)
            .await
            .unwrap_err();
        assert!(
            matches!(error, QueryError::InvalidFilter(_)),
            "{min:?}..={max:?}: {error:?}"
        );
    }
    db.drop().await;
}

#[tokio::test]
async fn cursors_are_checked() {
    let db = TestDb::new().await;
    let model = db.model();
    seed_catalog(&db.pool).await;
    insert_order(&db.pool, "o1", "alice", "PLACED", 1).await;
    insert_order(&db.pool, "o2", "alice", "PLACED", 2).await;

    let all = ProductFilter::default();
    let product_cursor = model
        .list_products(&all, &PageRequest::new(1, None))
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    let order_cursor = model
        .orders_of("alice", &PageRequest::new(1, None))
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();

    let garbage = [
        String::new(),
        "nonsense".to_owned(),
        "abc".to_owned(),
        product_cursor.to_uppercase(),
        product_cursor[..product_cursor.len() - 2].to_owned(),
        format!("{product_cursor}00"),
        hex("{}"),
        hex("null"),
        hex(r#"{"k":"p","n":1,"i":"x"}"#),
        order_cursor.clone(),
    ];
    for cursor in garbage {
        let error = model
            .list_products(&all, &PageRequest::new(5, Some(cursor.clone())))
            .await
            .unwrap_err();
        assert!(
            matches!(error, QueryError::InvalidCursor(_)),
            "{cursor:.40}: {error:?}"
        );
    }
    for cursor in [product_cursor.clone(), "zz".to_owned()] {
        let error = model
            .orders_of("alice", &PageRequest::new(5, Some(cursor)))
            .await
            .unwrap_err();
        assert!(matches!(error, QueryError::InvalidCursor(_)), "{error:?}");
    }
    // Alice's cursor is of no use for Bob's orders.
    let error = model
        .orders_of("bob", &PageRequest::new(5, Some(order_cursor.clone())))
        .await
        .unwrap_err();
    assert!(matches!(error, QueryError::InvalidCursor(_)), "{error:?}");

    // A cursor this module made, for a position no row holds, is fine.
    let made = hex(r#"{"k":"p","n":"item05","i":"p"}"#);
    let page = model
        .list_products(&all, &PageRequest::new(2, Some(made)))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["p05", "p15"]);
    db.drop().await;
}

#[tokio::test]
async fn a_product_comes_with_its_stock() {
    let db = TestDb::new().await;
    let model = db.model();
    insert_product(&db.pool, "stocked", "Stocked", "has a level", 1_999).await;
    insert_product(&db.pool, "unknown", "Unknown", "no level yet", 5).await;
    insert_stock(&db.pool, "stocked", 12, 3).await;
    insert_stock(&db.pool, "orphan", 1, 0).await;

    let stocked = model.product("stocked").await.unwrap();
    assert_eq!(
        stocked,
        Some(ProductView {
            product_id: "stocked".to_owned(),
            name: "Stocked".to_owned(),
            description: "has a level".to_owned(),
            price_cents: 1_999,
            currency: "EUR".to_owned(),
            available: Some(12),
            version: 3,
            created_at: at(0),
            updated_at: at(60),
        })
    );
    let unknown = model.product("unknown").await.unwrap().unwrap();
    assert_eq!(unknown.available, None);
    assert_eq!(model.product("missing").await.unwrap(), None);
    // A stock level alone is not a product.
    assert_eq!(model.product("orphan").await.unwrap(), None);

    // The list carries the same.
    let page = model
        .list_products(&ProductFilter::default(), &PageRequest::new(10, None))
        .await
        .unwrap();
    assert_eq!(page.items, [stocked.unwrap(), unknown]);

    assert_eq!(
        model.stock("stocked").await.unwrap(),
        Some(StockView {
            product_id: "stocked".to_owned(),
            available: 12,
            reserved: 3,
            version: 7,
            updated_at: at(120),
        })
    );
    assert_eq!(model.stock("unknown").await.unwrap(), None);
    db.drop().await;
}

#[tokio::test]
async fn a_cart_lists_its_lines_in_position_order() {
    let db = TestDb::new().await;
    let model = db.model();
    sqlx::query(
        "INSERT INTO carts (user_id, version, updated_at, expires_at)
         VALUES ('alice', 4, $1, $2), ('bob', 1, $1, NULL), ('carol', 2, $1, NULL)",
    )
    .bind(at(10))
    .bind(at(3_600))
    .execute(&db.pool)
    .await
    .unwrap();
    // Inserted out of position order, and positions that disagree with product ids.
    for (user, position, product, quantity) in [
        ("alice", 2, "a-apple", 1),
        ("alice", 0, "c-cherry", 3),
        ("alice", 1, "b-banana", 2),
        ("carol", 0, "z", 9),
    ] {
        sqlx::query(
            "INSERT INTO cart_lines (user_id, position, product_id, quantity, added_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user)
        .bind(position)
        .bind(product)
        .bind(quantity)
        .bind(at(i64::from(position)))
        .execute(&db.pool)
        .await
        .unwrap();
    }

    let line = |product: &str, quantity: i32, position: i64| CartLineView {
        product_id: product.to_owned(),
        quantity,
        added_at: at(position),
    };
    assert_eq!(
        model.cart("alice").await.unwrap(),
        Some(CartView {
            user_id: "alice".to_owned(),
            version: 4,
            updated_at: at(10),
            expires_at: Some(at(3_600)),
            lines: vec![
                line("c-cherry", 3, 0),
                line("b-banana", 2, 1),
                line("a-apple", 1, 2)
            ],
        })
    );
    assert_eq!(
        model.cart("bob").await.unwrap(),
        Some(CartView {
            user_id: "bob".to_owned(),
            version: 1,
            updated_at: at(10),
            expires_at: None,
            lines: vec![],
        })
    );
    assert_eq!(
        model.cart("carol").await.unwrap().unwrap().lines,
        [line("z", 9, 0)]
    );
    assert_eq!(model.cart("dave").await.unwrap(), None);
    db.drop().await;
}

#[tokio::test]
async fn an_order_comes_with_lines_and_history_in_order() {
    let db = TestDb::new().await;
    let model = db.model();
    sqlx::query(
        "INSERT INTO orders (order_id, user_id, status, total_cents, currency, authorization_id,
                             reason, version, created_at, updated_at)
         VALUES ('o1', 'alice', 'CONFIRMED', 1500, 'EUR', 'auth-9', NULL, 6, $1, $2)",
    )
    .bind(at(0))
    .bind(at(30))
    .execute(&db.pool)
    .await
    .unwrap();
    for (position, product, stock) in [(1, "a-second", "COMMITTED"), (0, "z-first", "RESERVED")] {
        sqlx::query(
            "INSERT INTO order_lines
                 (order_id, position, product_id, name, quantity, unit_price_cents, currency, stock)
             VALUES ('o1', $1, $2, $3, $4, 500, 'EUR', $5)",
        )
        .bind(position)
        .bind(product)
        .bind(format!("Name of {product}"))
        .bind(position + 1)
        .bind(stock)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // Inserted out of order; two at the same instant are ordered by event id.
    for (event, status, previous, reason, when) in [
        ("e3", "CONFIRMED", Some("PAYMENT_PENDING"), None, 20),
        ("e1", "PLACED", None, None, 0),
        (
            "e2b",
            "PAYMENT_PENDING",
            Some("STOCK_PENDING"),
            Some("stock held"),
            10,
        ),
        ("e2a", "STOCK_PENDING", Some("PLACED"), None, 10),
    ] {
        sqlx::query(
            "INSERT INTO order_status_history
                 (event_id, order_id, status, previous_status, reason, occurred_at)
             VALUES ($1, 'o1', $2, $3, $4, $5)",
        )
        .bind(event)
        .bind(status)
        .bind(previous)
        .bind(reason)
        .bind(at(when))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // Someone else's history, and history of an order whose state has not arrived.
    insert_history(&db.pool, "x1", "o2", "PLACED", 5).await;
    insert_history(&db.pool, "x2", "ghost", "PLACED", 5).await;
    insert_order(&db.pool, "o2", "bob", "PLACED", 5).await;
    insert_order(&db.pool, "o3", "bob", "PLACED", 6).await;

    let change = |status: &str, previous: Option<&str>, reason: Option<&str>, when| StatusChange {
        status: status.to_owned(),
        previous_status: previous.map(str::to_owned),
        reason: reason.map(str::to_owned),
        occurred_at: at(when),
    };
    assert_eq!(
        model.order("o1").await.unwrap(),
        Some(OrderView {
            order_id: "o1".to_owned(),
            user_id: "alice".to_owned(),
            status: "CONFIRMED".to_owned(),
            total_cents: 1500,
            currency: "EUR".to_owned(),
            authorization_id: Some("auth-9".to_owned()),
            reason: None,
            version: 6,
            created_at: at(0),
            updated_at: at(30),
            lines: vec![
                OrderLineView {
                    product_id: "z-first".to_owned(),
                    name: "Name of z-first".to_owned(),
                    quantity: 1,
                    unit_price_cents: 500,
                    currency: "EUR".to_owned(),
                    stock: "RESERVED".to_owned(),
                },
                OrderLineView {
                    product_id: "a-second".to_owned(),
                    name: "Name of a-second".to_owned(),
                    quantity: 2,
                    unit_price_cents: 500,
                    currency: "EUR".to_owned(),
                    stock: "COMMITTED".to_owned(),
                },
            ],
            history: vec![
                change("PLACED", None, None, 0),
                change("STOCK_PENDING", Some("PLACED"), None, 10),
                change(
                    "PAYMENT_PENDING",
                    Some("STOCK_PENDING"),
                    Some("stock held"),
                    10
                ),
                change("CONFIRMED", Some("PAYMENT_PENDING"), None, 20),
            ],
        })
    );
    let o2 = model.order("o2").await.unwrap().unwrap();
    assert_eq!(o2.lines, []);
    assert_eq!(o2.history, [change("PLACED", None, None, 5)]);
    let o3 = model.order("o3").await.unwrap().unwrap();
    assert_eq!((o3.lines.len(), o3.history.len()), (0, 0));
    assert_eq!(model.order("ghost").await.unwrap(), None);
    assert_eq!(model.order("missing").await.unwrap(), None);
    db.drop().await;
}

#[tokio::test]
async fn a_users_orders_page_newest_first() {
    let db = TestDb::new().await;
    let model = db.model();
    // Alice's orders, inserted out of order; o-b and o-c share an instant (o-c first: id DESC).
    let alice = [
        ("o-a", 10),
        ("o-e", 50),
        ("o-b", 20),
        ("o-g", 70),
        ("o-c", 20),
        ("o-f", 60),
        ("o-d", 40),
        ("o-h", 80),
        ("o-i", 90),
        ("o-j", 100),
        ("o-k", 110),
    ];
    for (id, created) in alice {
        insert_order(&db.pool, id, "alice", "PLACED", created).await;
    }
    // Bob's, at the same and neighbouring instants.
    for (id, created) in [("o-x", 20), ("o-y", 55), ("o-z", 200)] {
        insert_order(&db.pool, id, "bob", "CANCELLED", created).await;
    }
    let expected = [
        "o-k", "o-j", "o-i", "o-h", "o-g", "o-f", "o-e", "o-d", "o-c", "o-b", "o-a",
    ];

    for limit in [1, 3, 11, 100] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = model
                .orders_of("alice", &PageRequest::new(limit, cursor))
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|o| o.order_id.clone()));
            assert!(seen.len() <= 100, "the walk does not end: {seen:?}");
            match page.next_cursor {
                Some(next) => {
                    assert_eq!(page.items.len(), limit as usize);
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, expected, "limit {limit}");
    }

    let first = model
        .orders_of("alice", &PageRequest::new(2, None))
        .await
        .unwrap();
    assert_eq!(
        first.items[0],
        OrderSummary {
            order_id: "o-k".to_owned(),
            status: "PLACED".to_owned(),
            total_cents: 4200,
            currency: "EUR".to_owned(),
            created_at: at(110),
            updated_at: at(115),
        }
    );
    // A newer order placed mid-walk does not shift the pages behind the cursor.
    insert_order(&db.pool, "o-new", "alice", "PLACED", 1_000).await;
    let second = model
        .orders_of("alice", &PageRequest::new(3, first.next_cursor))
        .await
        .unwrap();
    let second: Vec<&str> = second.items.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(second, ["o-i", "o-h", "o-g"]);

    let bob = model
        .orders_of("bob", &PageRequest::new(10, None))
        .await
        .unwrap();
    let bob: Vec<&str> = bob.items.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(bob, ["o-z", "o-y", "o-x"]);

    let nobody = model
        .orders_of("nobody", &PageRequest::new(10, None))
        .await
        .unwrap();
    assert_eq!(
        nobody,
        Page {
            items: vec![],
            next_cursor: None
        }
    );
    db.drop().await;
}

#[tokio::test]
async fn unknown_ids_are_none_and_ping_answers() {
    let db = TestDb::new().await;
    let model = db.model();
    model.ping().await.unwrap();
    assert_eq!(model.product("nope").await.unwrap(), None);
    assert_eq!(model.stock("nope").await.unwrap(), None);
    assert_eq!(model.cart("nope").await.unwrap(), None);
    assert_eq!(model.order("nope").await.unwrap(), None);
    let empty = model
        .list_products(&ProductFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(empty.items, []);
    assert_eq!(empty.next_cursor, None);
    assert!(std::ptr::eq(model.pool(), model.pool()));

    // Once the pool is closed, ping reports it rather than pretending.
    db.pool.close().await;
    assert!(matches!(model.ping().await, Err(QueryError::Database(_))));
    db.drop().await;
}
