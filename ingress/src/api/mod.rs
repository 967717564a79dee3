//! The routes. Every route is declared once, with its `#[utoipa::path]`, and registered through
//! `utoipa_axum`'s `routes!`, so the router and the OpenAPI document come from the same
//! declarations; a test checks that they agree.
//!
//! `/api/v1/...` needs a bearer token (the `authenticate` route layer); `/health`, `/ready`,
//! `/metrics` and `/openapi.json` do not.

pub mod dto;

mod cart;
mod checkout;
mod commands;
mod extract;
mod middleware;
mod orders;
mod products;
mod system;
mod validate;

pub use checkout::{ORDER_ID_NAMESPACE, order_id};

use crate::error::Problem;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shop ingress",
        description = "The HTTP front door of the shop: commands go to Kafka, queries are answered \
                       from the read model. See docs/ingress.md."
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "products", description = "The catalog"),
        (name = "cart", description = "The caller's cart"),
        (name = "orders", description = "Checkout and the caller's orders"),
        (name = "system", description = "Health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

/// The `bearer` security scheme the operations refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The authenticated API, without layers.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(products::list_products, products::create_product))
        .routes(routes!(
            products::get_product,
            products::update_product,
            products::delete_product
        ))
        .routes(routes!(products::restock_product))
        .routes(routes!(cart::get_cart, cart::clear_cart))
        .routes(routes!(cart::add_item))
        .routes(routes!(cart::set_item, cart::remove_item))
        .routes(routes!(checkout::checkout))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
}

/// The operations endpoints, open to anyone.
fn system_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system::health))
        .routes(routes!(system::ready))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi_json))
}

/// The OpenAPI document of [`router`]'s routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api_routes())
        .merge(system_routes())
        .into_openapi()
}

/// The ingress's router over `state`: every route, authentication and a server span per request
/// on `/api/v1`, the body limit, metrics, tracing, and problem+json for unknown routes (404),
/// wrong methods (405) and panics (500).
pub fn router(state: AppState) -> Router {
    // Only the API is traced: probes and scrapes of the system routes would bury the traces
    // of requests in spans nobody follows.
    let api = api_routes()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ))
        .layer(axum::middleware::from_fn(middleware::trace_request));
    let (routes, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api)
        .merge(system_routes())
        .split_for_parts();
    routes
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .fallback(middleware::no_route)
        .layer(Extension(Arc::new(document)))
        .layer(DefaultBodyLimit::max(state.http.body_limit_bytes))
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .with_state(state)
}
